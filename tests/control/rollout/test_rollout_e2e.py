"""Rollouts end to end: a real `inferd up`, real replicas, real candidates, under load.

One `inferd up` for the module; each test applies the spec it needs and drives the rollout
through the CLI. Steps are sub-second so the whole module stays short.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from inferd.config import StoreSettings
from inferd.store import ModelStore

from ..conftest import UpProcess, start_up
from .conftest import RandomLoad, rollout_store, spec_text

# The tests share one `inferd up` and run in file order (a later test starts from the tags and
# weights an earlier one left), so xdist keeps them on one worker (`--dist loadgroup`).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("rollout_e2e")]

FINISHED = ("promoted", "rolled_back", "aborted", "failed")


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpProcess]:
    root = tmp_path_factory.mktemp("rollout")
    home = root / "home"
    rollout_store(home, root / "models")
    spec = root / "inferd.yaml"
    spec.write_text(spec_text("fraud:v2"))
    running = start_up(home, spec)
    yield running
    assert running.stop() == 0


def apply(up: UpProcess, text: str) -> str:
    path = up.home / "test-spec.yaml"
    path.write_text(text)
    return up.cli("apply", str(path)).stdout


def rollout(up: UpProcess, *args: str) -> dict[str, Any]:
    return dict(orjson.loads(up.cli("rollout", *args, "fraud", "--json").stdout))


def wait_finished(up: UpProcess, timeout: float = 40) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status = rollout(up, "status")
        if status["phase"] in FINISHED:
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.2)


def roll_out_under_load(up: UpProcess) -> tuple[dict[str, Any], Counter[str], Counter[str]]:
    """Start fraud's rollout under random load and wait for it to finish: its last status, and
    the outcomes and answering versions of the requests that finished since it started."""
    with RandomLoad(up.gateway_port) as load:
        started = time.monotonic()
        rollout(up, "start")
        status = wait_finished(up)
        return (status, *load.since(started))


def routing(up: UpProcess) -> dict[str, Any]:
    """The fraud deployment's routing as `inferd ps` shows it."""
    deployments: list[dict[str, Any]] = up.ps()["deployments"]  # type: ignore[assignment]
    return deployments[0]


def weights(up: UpProcess) -> dict[str, float]:
    return {v["name"]: v["weight"] for v in routing(up)["versions"]}


def events(up: UpProcess, rollout_id: str) -> list[dict[str, Any]]:
    history = orjson.loads(up.cli("rollout", "history", "fraud", "--json").stdout)
    return [d for d in history["decisions"] if d["rollout"] == rollout_id]


def test_good_candidate_is_promoted_through_every_step_and_tagged(up: UpProcess) -> None:
    apply(up, spec_text("fraud:v2"))
    status, statuses, versions = roll_out_under_load(up)
    assert status["phase"] == "promoted", status
    assert status["candidate_weight"] == 100
    assert weights(up) == {"v1": 0, "v2": 100}
    steps = [e for e in events(up, status["id"]) if e["event"] in ("advance", "promote")]
    assert [e["event"] for e in steps] == ["advance", "advance", "promote"]
    judged = [e for e in events(up, status["id"]) if "verdict" in e]
    assert all(e["observations"]["candidate"]["requests"] >= 20 for e in judged if
               e["verdict"]["action"] == "promote")  # fmt: skip
    assert set(statuses) == {"200"}, statuses
    store = ModelStore.from_settings(StoreSettings(home=up.home))
    assert store.resolve("fraud:production").digest == store.resolve("fraud:v2").digest
    moves = [e for e in store.history("fraud") if e.tag == "production"]
    assert moves and moves[-1].new == store.resolve("fraud:v2").digest
    assert len(versions) == 2  # both versions answered during the rollout


@pytest.mark.parametrize(
    ("candidate", "extra", "failing"),
    [
        ("fraud:erroring", "", "error_rate"),
        ("fraud:slow", ", max_latency_ratio: 2", "latency_p99_ratio"),
    ],
)
def test_faulty_canary_is_rolled_back(
    up: UpProcess, candidate: str, extra: str, failing: str
) -> None:
    analysis = "{max_error_rate: 0.01, min_requests: 20" + extra + "}"
    # A loaded machine may not send the slow candidate 20 requests within the default
    # deadline (10 intervals, 3 s): it would be rolled back for that, not for its latency.
    apply(up, spec_text(candidate, analysis=analysis, progress_deadline="60s"))
    with RandomLoad(up.gateway_port) as load:
        started = time.monotonic()
        rollout(up, "start")
        status = wait_finished(up)
        ended = time.monotonic()
        time.sleep(1.0)
        during, _ = load.since(started)
        after, after_versions = load.since(ended + 0.2)
    assert status["phase"] == "rolled_back", status
    assert weights(up) == {"v1": 100, "v2": 0}
    last = events(up, status["id"])[-1]
    assert last["event"] == "rollback"
    assert failing in [c["metric"] for c in last["verdict"]["checks"] if c["passed"] is False]
    errors = sum(n for s, n in during.items() if s != "200")
    # Only the candidate fails (about 5% of its requests), on at most half of the traffic.
    assert errors <= 0.1 * sum(during.values())
    assert set(after) == {"200"} and set(after_versions) == {"v1"}, (after, after_versions)


def test_divergent_candidate_is_rolled_back_from_the_mirror(up: UpProcess) -> None:
    """Blue-green: every request mirrored to the candidate; 30% of labels differ."""
    analysis = "{max_error_rate: 0.01, max_divergence: 0.1, min_requests: 20}"
    apply(up, spec_text("fraud:divergent", strategy="blue-green", analysis=analysis))
    status, statuses, versions = roll_out_under_load(up)
    assert status["phase"] == "rolled_back", status
    last = events(up, status["id"])[-1]
    (div,) = [c for c in last["verdict"]["checks"] if c["metric"] == "divergence"]
    # Above its limit (why it was rolled back), and like the 30 % the model differs by: over the
    # ~20 mirrored requests the check waits for, a share of 0.18 or 0.45 is no rare draw (it
    # asked for 0.2 to 0.4, which about one run in eight missed).
    assert div["passed"] is False and 0.1 < div["value"] < 0.65
    assert set(statuses) == {"200"} and set(versions) == {"v1"}, (statuses, versions)
    assert routing(up)["shadow"] is None
    # What the InferdRolloutFailed alert reads (docs/alerts.md).
    metrics = httpx.get(f"http://127.0.0.1:{up.gateway_port}/metrics").text
    assert 'inferd_rollout_events_total{deployment="fraud",event="rollback"}' in metrics


def test_abort_mid_rollout_returns_all_traffic_at_once(up: UpProcess) -> None:
    apply(up, spec_text("fraud:v2", interval="30s"))
    with RandomLoad(up.gateway_port) as load:
        status = rollout(up, "start")
        deadline = time.monotonic() + 10
        while rollout(up, "status")["candidate_weight"] != 20:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(0.5)
        _, before = load.since(0)
        assert before["v2"] > 0
        # Re-applying the file the rollout began from keeps it; another change must wait.
        apply(up, spec_text("fraud:v2", interval="30s"))
        assert weights(up) == {"v1": 80, "v2": 20}
        changed = up.home / "changed.yaml"
        changed.write_text(spec_text("fraud:slow", interval="30s"))
        refused = up.cli("apply", str(changed), check=False)
        assert refused.returncode == 4 and "promote or abort" in refused.stderr
        # Pausing twice is one pause: the second changes and records nothing.
        assert [rollout(up, "pause")["phase"] for _ in range(2)] == ["paused", "paused"]
        assert [rollout(up, "resume")["phase"] for _ in range(2)] == ["running", "running"]
        held = [e["event"] for e in events(up, status["id"])]
        assert (held.count("pause"), held.count("resume")) == (1, 1), held
        status = rollout(up, "abort")
        aborted = time.monotonic()
        time.sleep(1.0)
        statuses, versions = load.since(aborted + 0.1)
    assert status["phase"] == "aborted"
    assert weights(up) == {"v1": 100, "v2": 0}
    assert set(versions) == {"v1"} and set(statuses) == {"200"}, (statuses, versions)
    assert events(up, status["id"])[-1]["event"] == "abort"


def test_apply_after_a_promotion_by_hand_says_it_undoes_it(up: UpProcess) -> None:
    """``inferd rollout start`` and ``promote`` give v2 the traffic; re-applying the unchanged
    file gave it back to v1 without a word. The file's traffic still stands (an apply is
    declarative), and the apply names the promotion it undoes, in text and in --json."""
    text = spec_text("fraud:v2", interval="30s")
    apply(up, text)
    path = up.home / "promoted.yaml"
    path.write_text(text)
    for as_json in (True, False):
        started = rollout(up, "start")
        assert rollout(up, "promote")["phase"] == "promoted"
        assert weights(up) == {"v1": 0, "v2": 100}
        if as_json:
            report = orjson.loads(up.cli("apply", str(path), "--json").stdout)
            assert report["undone"] == [{
                "deployment": "fraud", "rollout": started["id"], "promoted": "v2",
                "restored": "v1", "weights": {"v1": 100, "v2": 0},
            }]  # fmt: skip
        else:
            printed = up.cli("apply", str(path)).stdout
            assert (
                f"warning: fraud: this apply undoes the promotion of 'v2' by rollout "
                f"{started['id']}: the file gives the traffic back to 'v1' (v1 100%)"
            ) in " ".join(printed.split())
        assert weights(up) == {"v1": 100, "v2": 0}
    # Said once: the next apply of the same file changes and undoes nothing.
    assert up.cli("apply", str(path)).stdout.strip() == "no changes"


def one_version(model: str) -> str:
    """The fraud deployment serving one version, with a two-step canary policy."""
    return f"""apiVersion: inferd.dev/v1
kind: Stack
gateway: {{port: 0, drain_timeout: 10s}}
deployments:
  - name: fraud
    versions:
      - {{name: v1, model: "{model}", replicas: 1}}
    batching: {{max_batch_size: 1}}
    rollout:
      strategy: canary
      steps: [50, 100]
      interval: 300ms
      analysis: {{max_error_rate: 0.01, min_requests: 20}}
      failure_limit: 2
"""


def references(up: UpProcess) -> dict[str, str]:
    return {v["name"]: v["reference"] for v in routing(up)["versions"]}


def wait_new_rollout(up: UpProcess, previous: str | None, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status = rollout(up, "status")
        if status["id"] != previous:
            return status
        assert time.monotonic() < deadline, "no rollout started"
        time.sleep(0.2)


def test_apply_of_a_new_model_is_a_rollout_and_so_is_a_moved_alias(up: UpProcess) -> None:
    with RandomLoad(up.gateway_port) as load:
        previous = rollout(up, "status")["id"]
        printed = apply(up, one_version("fraud:v2"))
        status = wait_new_rollout(up, previous)
        assert status["cause"] == "apply" and status["candidate"] == "v1-next"
        assert f"fraud: rollout {status['id']} started, canary of 'v1-next' (fraud:v2)" in printed
        status = wait_finished(up)
        assert status["phase"] == "promoted", status
        assert references(up) == {"v1": "fraud:v2"}  # the spec as written, once promoted

        # Follow an alias: serve fraud:production, then move it.
        apply(up, one_version("fraud:production"))
        wait_finished(up)
        previous = rollout(up, "status")["id"]
        up.cli("tag", "fraud:v1", "fraud:production")
        status = wait_new_rollout(up, previous)
        assert status["cause"] == "alias fraud:production moved"
        assert wait_finished(up)["phase"] == "promoted"
        store = ModelStore.from_settings(StoreSettings(home=up.home))
        v1 = store.resolve("fraud:v1").digest
        assert references(up) == {"v1": f"fraud:production@{v1}"}

        # A bad version under the alias is rolled back and not retried while the alias stays.
        up.cli("tag", "fraud:erroring", "fraud:production")
        bad = wait_new_rollout(up, status["id"])
        assert wait_finished(up)["phase"] == "rolled_back"
        time.sleep(1.5)
        assert rollout(up, "status")["id"] == bad["id"]
        assert references(up) == {"v1": f"fraud:production@{v1}"}
        settled = time.monotonic()
        time.sleep(0.5)
        statuses, _ = load.since(settled)
    assert set(statuses) == {"200"}, statuses


def test_rollout_commands_name_the_problem(up: UpProcess) -> None:
    missing = up.cli("rollout", "status", "nosuch", check=False)
    assert missing.returncode == 3
    assert "deployment 'nosuch' not found" in missing.stderr  # not a deployment at all
    no_history = up.cli("rollout", "history", "nosuch", check=False)
    assert no_history.returncode == 3 and "deployment 'nosuch' not found" in no_history.stderr
    finished = up.cli("rollout", "promote", "fraud", check=False)
    assert finished.returncode == 2 and "is already" in finished.stderr
    history = up.cli("rollout", "history", "fraud").stdout
    assert "promote" in history and "rollback" in history and "abort" in history
