"""``inferd up`` end to end: a real process running replicas behind the gateway, driven through
its CLI (``ps``, ``apply``) and admin API, under continuous load.

Reliability rows: R5 (kill -9 of a replica under load), R8 (live changes under load), R1
(SIGTERM under load). "Failed" is any answer but 200, or a transport error on an accepted
connection.
"""

from __future__ import annotations

import getpass
import http.client
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import psutil
import pytest

from inferd.config import StoreSettings
from inferd.observe.audit import read_audit
from inferd.store import ModelStore

from .conftest import Load, UpProcess, banner_curl, fraud_store, spec_text, start_up
from .rollout import models

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpProcess]:
    """One `inferd up --demo-traffic` for this module: fraud v1 (2 replicas, 90%) and v2 (1
    replica, 10%)."""
    root = tmp_path_factory.mktemp("up")
    home = root / "home"
    fraud_store(home)
    spec = root / "inferd.yaml"
    spec.write_text(spec_text({"v1": ("fraud:v1", 2, 90), "v2": ("fraud:v2", 1, 10)}))
    up = start_up(home, spec, "--demo-traffic")
    yield up
    assert up.stop() == 0


def _admin(
    up: UpProcess, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, object]]:
    conn = http.client.HTTPConnection("127.0.0.1", up.state.admin_port, timeout=30)
    conn.request(method, path, body or None, headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, orjson.loads(data) if data else {}


def _token(up: UpProcess) -> str:
    return (up.home / "up.token").read_text().strip()


def _replicas(up: UpProcess) -> list[dict[str, object]]:
    return list(up.ps()["replicas"])  # type: ignore[call-overload]


def test_ps_shows_ready_replicas_and_weights(running: UpProcess) -> None:
    status = running.ps()
    rows = {(r["version"], r["replica"]): r for r in _replicas(running)}
    assert sorted(rows) == [("v1", "fraud-v1-1"), ("v1", "fraud-v1-2"), ("v2", "fraud-v2-1")]
    assert all(r["state"] == "ready" and r["routed"] and r["pid"] for r in rows.values())
    (fraud,) = status["deployments"]  # type: ignore[misc]
    assert {v["name"]: v["weight"] for v in fraud["versions"]} == {"v1": 90, "v2": 10}
    table = running.cli("ps").stdout
    assert "DEPLOYMENT" in table and "fraud-v2-1" in table and "90%" in table
    assert os.stat(running.home / "up.token").st_mode & 0o777 == 0o600


def test_the_banners_curl_answers_as_printed(running: UpProcess) -> None:
    status, body = banner_curl(running)
    assert status == 200, body
    answer = orjson.loads(body)
    assert answer["model_name"] == "fraud"
    assert {o["name"] for o in answer["outputs"]} == {"label", "probabilities"}


def test_the_lineage_names_the_digest_each_version_serves(running: UpProcess) -> None:
    """The spec names tags (``fraud:v1``); the lineage panel marks the digests served now, so
    each version carries the digest its replicas were pinned to (it was null for a tag)."""
    store = ModelStore.from_settings(StoreSettings(home=running.home))
    conn = http.client.HTTPConnection("127.0.0.1", running.gateway_port, timeout=30)
    conn.request("GET", "/api/lineage")
    lineage = orjson.loads(conn.getresponse().read())
    conn.close()
    (fraud,) = lineage["deployments"]
    assert {v["version"]: v["digest"] for v in fraud["versions"]} == {
        "v1": store.resolve("fraud:v1").digest,
        "v2": store.resolve("fraud:v2").digest,
    }


def test_the_log_has_inferds_events_and_not_every_health_probe(running: UpProcess) -> None:
    """Replicas are probed every second from their start; httpx would log each probe at INFO."""
    log = running.log.read_text()
    assert "INFO inferd.control.reconciler: fraud/v1: add (+2 -0 replicas)" in log
    assert "HTTP Request" not in log and " httpx: " not in log, log


def test_demo_traffic_moves_the_dashboard(running: UpProcess) -> None:
    """The gateway's status (what the dashboard draws) counts the demo's requests."""
    deadline = time.monotonic() + 20
    while True:
        (fraud,) = running.ps()["gateway"]["deployments"]  # type: ignore[index]
        if sum(v["requests"] for v in fraud["versions"]) >= 5:
            break
        assert time.monotonic() < deadline, fraud
        time.sleep(0.5)
    assert fraud["error_rate"] == 0


def test_admin_api_wants_the_token_and_no_browser(running: UpProcess) -> None:
    token = _token(running)
    assert _admin(running, "GET", "/admin/status")[0] == 401
    assert (
        _admin(running, "GET", "/admin/status", headers={"Authorization": "Bearer nope"})[0] == 401
    )
    foreign = {"Authorization": f"Bearer {token}", "Origin": "https://evil.example"}
    assert _admin(running, "POST", "/admin/apply", b"kind: Stack", foreign)[0] == 403
    typo = b"apiVersion: inferd.dev/v1\nkind: Stak\n"
    status, body = _admin(
        running, "POST", "/admin/apply", typo, {"Authorization": f"Bearer {token}"}
    )
    assert status == 400
    problems = body["problems"]
    assert [(p["line"], p["column"]) for p in problems] == [(1, 1), (2, 7)]  # type: ignore[union-attr]


def test_every_listener_is_on_loopback(running: UpProcess) -> None:
    """The gateway (REST and gRPC, as configured), the admin API and every replica listen on
    loopback only."""
    up = psutil.Process(running.proc.pid)
    listening = [
        conn.laddr
        for proc in (up, *up.children(recursive=True))
        for conn in proc.net_connections(kind="inet")
        if conn.status == psutil.CONN_LISTEN
    ]
    ports = {addr.port for addr in listening}
    assert running.state.admin_port in ports and running.gateway_port in ports
    assert int(running.state.gateway_grpc.rsplit(":", 1)[1]) in ports
    assert all(int(r["port"]) in ports for r in _replicas(running))  # type: ignore[call-overload]
    # gRPC listens on 127.0.0.1 through a dual-stack socket: ::ffff:127.0.0.1 is the same address.
    assert {addr.ip.removeprefix("::ffff:") for addr in listening} == {"127.0.0.1"}


def test_apply_reports_problems_against_the_users_file(running: UpProcess, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(spec_text({"v1": ("fraud:v1", 2, 90), "v2": ("fraud:v2", 1, 5)}))
    result = running.cli("apply", str(bad), check=False)
    assert result.returncode == 2
    assert f"{bad}:17:9: deployments[0].traffic.weights: weights add up to 95" in result.stderr


def test_apply_of_a_model_that_cannot_load_fails_fast_with_its_reason(
    running: UpProcess, tmp_path: Path
) -> None:
    """The replica's load error within seconds (not "not ready after 120 s"), exit 7, and the
    versions that served keep serving, under load."""
    running.cli("push", str(models.write(models.unloadable(), tmp_path / "broken")), "fraud:broken")
    before = running.ps()["deployments"]
    broken = tmp_path / "broken.yaml"
    broken.write_text(spec_text({"v1": ("fraud:v1", 2, 90), "v2": ("fraud:broken", 1, 10)}))
    with Load(running.gateway_port) as load:
        load.wait_for(50)
        started = time.monotonic()
        result = running.cli("apply", str(broken), check=False)
        took = time.monotonic() - started
        load.wait_for(50)
    assert result.returncode == 7, result.stderr
    assert "fraud-v2-" in result.stderr and "onnxruntime cannot load" in result.stderr
    assert took < 30, took
    assert running.ps()["deployments"] == before
    assert load.failed() == {}, load.outcomes


def test_killed_replica_under_load_costs_at_most_its_in_flight(running: UpProcess) -> None:
    victim = next(r for r in _replicas(running) if r["replica"] == "fraud-v1-1")
    with Load(running.gateway_port) as load:
        load.wait_for(200)
        os.kill(int(victim["pid"]), signal.SIGKILL)  # type: ignore[call-overload]
        killed_at = time.monotonic()
        while True:
            row = next(r for r in _replicas(running) if r["replica"] == "fraud-v1-1")
            if row["state"] == "ready" and row["pid"] != victim["pid"]:
                break
            assert time.monotonic() - killed_at < 10, row
            time.sleep(0.1)
        load.wait_for(200)
    assert row["restarts"] == 1
    # At most the requests in flight on the victim fail (the gateway retries them elsewhere),
    # and those that do are 503 + Retry-After: never a reset, a hang or a 502.
    assert sum(load.failed().values()) <= load.workers, load.outcomes
    assert set(load.failed()) <= {"503"}, load.outcomes
    assert all(v.isdigit() and int(v) >= 1 for v in load.retry_after), load.retry_after
    # The gateway's /metrics says so from the supervisor's view (the replicas' own series
    # never saw the dead process): one failure, every replica ready again.
    conn = http.client.HTTPConnection("127.0.0.1", running.gateway_port, timeout=10)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    assert 'inferd_replica_failures_total{deployment="fraud",version="v1"} 1.0' in text
    assert 'inferd_replicas{deployment="fraud",state="failed",version="v1"} 0.0' in text


def test_apply_under_load_drops_nothing(running: UpProcess, tmp_path: Path) -> None:
    weights = tmp_path / "weights.yaml"
    weights.write_text(spec_text({"v1": ("fraud:v1", 2, 50), "v2": ("fraud:v2", 1, 50)}))
    swap = tmp_path / "swap.yaml"
    # v1 is replaced by new bytes under the same name, v2 is removed, v3 is added.
    swap.write_text(spec_text({"v1": ("fraud:v2", 1, 70), "v3": ("fraud:v1", 1, 30)}))
    with Load(running.gateway_port) as load:
        load.wait_for(100)
        weighted = running.cli("apply", str(weights)).stdout
        load.wait_for(100)
        output = running.cli("apply", str(swap)).stdout
        load.wait_for(300)
    # Only the traffic moved: the apply says so (it used to say "no changes").
    assert weighted.strip() == "fraud: traffic v1 50%, v2 50% (changed: weights)"
    assert "fraud/v1: replace" in output and "fraud/v2: remove" in output
    assert "fraud/v3: add" in output
    assert "fraud: traffic v1 70%, v3 30% (changed: weights)" in output
    assert load.failed() == {}, load.outcomes
    assert sorted((r["version"], r["state"]) for r in _replicas(running)) == [
        ("v1", "ready"), ("v3", "ready"),
    ]  # fmt: skip
    # The same file again changes nothing.
    assert running.cli("apply", str(swap)).stdout.strip() == "no changes"


def test_apply_reports_a_traffic_change_and_refuses_a_gateway_it_cannot_change(
    running: UpProcess, tmp_path: Path
) -> None:
    def write(name: str, v1: int, v3: int) -> Path:
        path = tmp_path / name
        path.write_text(spec_text({"v1": ("fraud:v2", 1, v1), "v3": ("fraud:v1", 1, v3)}))
        return path

    running.cli("apply", str(write("start.yaml", 70, 30)))  # what the test above left
    split = write("split.yaml", 80, 20)
    result = orjson.loads(running.cli("apply", str(split), "--json").stdout)
    assert {c["action"] for c in result["changes"]} == {"keep"}
    assert result["routes"] == [
        {"deployment": "fraud", "weights": {"v1": 80, "v3": 20}, "shadow": None,
         "changed": ["weights"]},
    ]  # fmt: skip
    # The listener cannot move: the apply is refused, as a gateway.auth change is, and
    # nothing changes (not even the weights beside it).
    moved = write("moved.yaml", 60, 40)
    moved.write_text(moved.read_text().replace("  port: 0\n", "  port: 18080\n"))
    refused = running.cli("apply", str(moved), check=False)
    assert refused.returncode == 6, refused.stderr
    assert "gateway.port is read once, when inferd up starts" in refused.stderr
    assert "restart inferd up to change it" in refused.stderr
    (fraud,) = running.ps()["deployments"]  # type: ignore[misc]
    assert {v["name"]: v["weight"] for v in fraud["versions"]} == {"v1": 80, "v3": 20}
    assert running.cli("apply", str(split)).stdout.strip() == "no changes"
    priced = tmp_path / "priced.yaml"  # a policy section alone: in effect, said so
    priced.write_text(
        split.read_text() + "cost: {price_per_node_hour: 0.4, node: {cpu: 8, memory: 32Gi}}\n"
    )
    assert running.cli("apply", str(priced)).stdout.strip() == "in effect now: cost"
    assert orjson.loads(running.cli("apply", str(split), "--json").stdout)["settings"] == ["cost"]
    labelled = tmp_path / "labelled.yaml"  # read by inferd k8s render alone: said so
    labelled.write_text(split.read_text() + "metadata: {name: shop, labels: {team: ml}}\n")
    assert running.cli("apply", str(labelled)).stdout.strip() == (
        "for inferd k8s render only, not used by inferd up: metadata"
    )


def test_control_actions_leave_an_audit_record(running: UpProcess, tmp_path: Path) -> None:
    """Applies, rollout actions and refused requests are appended to $INFERD_HOME/audit.log
    with who asked (the CLI's local user), what, and how it ended."""
    path = running.home / "audit.log"
    before = len(read_audit(path)) if path.exists() else 0
    assert _admin(running, "POST", "/admin/apply", b"kind: Stack")[0] == 401
    same = tmp_path / "same.yaml"
    same.write_text(spec_text({"v1": ("fraud:v1", 2, 90), "v2": ("fraud:v2", 1, 10)}))
    running.cli("apply", str(same))
    running.cli("rollout", "promote", "nope", check=False)
    records = read_audit(path)[before:]
    assert [(r.action, r.outcome) for r in records] == [
        ("POST /admin/apply", "denied"),
        ("apply", "ok"),
        ("rollout.promote", "error"),
    ]
    assert records[1].caller.user == getpass.getuser()
    assert records[2].target == "nope" and records[2].status == "404"
    assert {r.plane for r in records} == {"up"}


@pytest.mark.parametrize("stop", ["sigterm", "inferd down"])
def test_a_stop_under_load_drains_and_exits_zero(stop: str, tmp_path: Path) -> None:
    """SIGTERM (or Ctrl-C), and ``inferd down``, which sends it and waits for the exit."""
    home = tmp_path / "home"
    fraud_store(home)
    spec = tmp_path / "inferd.yaml"
    spec.write_text(spec_text({"v1": ("fraud:v1", 2, 100)}, drain="10s"))
    up = start_up(home, spec)
    pids = [r["pid"] for r in _replicas(up)]
    with Load(up.gateway_port) as load:
        load.wait_for(200)
        signalled = time.monotonic()
        if stop == "sigterm":
            up.proc.send_signal(signal.SIGTERM)
        else:
            said = up.cli("down").stdout
            assert said.startswith(f"inferd up (pid {up.proc.pid}) stopped in "), said
        code = up.proc.wait(30)
        took = time.monotonic() - signalled
    assert code == 0
    assert took < 10 + 5  # the drain timeout, and a little for the replicas' own exit
    # Every request read before the drain was answered 200; a connection opened during the
    # drain got 503 + Retry-After (it was refused before the gateway drained like the server);
    # attempts after the gateway closed were refused. One client may complete its handshake in
    # the instant the listener closes, and the kernel resets it (docs/api.md, Lifecycle).
    allowed = {"200", "503", "ConnectionRefusedError", "ConnectionResetError"}
    assert set(load.outcomes) <= allowed, load.outcomes
    assert load.outcomes["ConnectionResetError"] <= 1, load.outcomes
    assert set(load.retry_after) <= {"1"}, load.retry_after
    assert not (home / "up.json").exists()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid), 0)  # type: ignore[call-overload]
