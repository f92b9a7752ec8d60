"""Cost end to end on a real ``inferd up``: a known number of requests is counted and priced the
same way by ``inferd cost report`` and the gateway's ``/metrics``; eight replicas for twenty
requests a second are right-sized by ``inferd cost recommend``, and applying its patch cuts the
idle money of a second measured window."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from control.conftest import FRAUD_BODY, QUICKSTART, UpProcess, fraud_store, start_up
from inferd.control.admin.client import AdminClient
from inferd.control.cost.proc import this_machine
from inferd.control.cost.sampler import DEFAULT_INTERVAL_S
from inferd.spec.cost import CostSpec
from inferd.spec.loading import load_spec
from inferd.spec.model import DeploymentSpec
from inferd.spec.types import parse_quantity

pytestmark = pytest.mark.slow

INFER = "/v2/models/fraud/infer"
GIB = 2**30
#: One sampling interval and a little: long enough for the sampler to tick once.
TICK_S = DEFAULT_INTERVAL_S + 0.5


def _replica_hour(cost: CostSpec, d: DeploymentSpec) -> float:
    """One replica-hour of ``d`` at ``cost``'s prices, worked out here from the spec alone."""
    cores = float(parse_quantity(d.resources.cpu or "1"))
    gib = float(parse_quantity(d.resources.memory or "0")) / GIB
    if cost.price_per_node_hour is not None:
        machine = this_machine()
        node_cores, node_gib = (
            (float(parse_quantity(cost.node.cpu)), float(parse_quantity(cost.node.memory)) / GIB)
            if cost.node is not None
            else (machine.cores, machine.memory_gib)
        )
        gross = cost.price_per_node_hour * max(cores / node_cores, gib / node_gib)
    else:
        gross = cores * (cost.cpu_core_hour or 0) + gib * (cost.memory_gib_hour or 0)
    return gross * (1 - cost.discount)


def _json(up: UpProcess, *args: str) -> dict[str, object]:
    return dict(orjson.loads(up.cli(*args, "--json").stdout))


def _series(up: UpProcess) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    text = httpx.get(f"http://127.0.0.1:{up.gateway_port}/metrics", timeout=10).text
    return {
        f.name: {tuple(sorted(s.labels.items())): s.value for s in f.samples}
        for f in text_string_to_metric_families(text)
        if f.name.startswith("inferd_cost")
    }


def _by_version(series: dict[tuple[tuple[str, str], ...], float]) -> dict[str, float]:
    return {dict(labels)["version"]: value for labels, value in series.items()}


@pytest.fixture
def quickstart(tmp_path: Path) -> Iterator[UpProcess]:
    """``inferd up`` of examples/quickstart/inferd.yaml (its prices), on a free port."""
    home = tmp_path / "home"
    fraud_store(home)
    spec = tmp_path / "inferd.yaml"
    spec.write_text((QUICKSTART / "inferd.yaml").read_text())
    up = start_up(home, spec, "--port", "0")
    yield up
    assert up.stop() == 0


def test_a_known_number_of_requests_is_counted_and_priced(
    quickstart: UpProcess, tmp_path: Path
) -> None:
    up, sent = quickstart, 150
    spec = load_spec(tmp_path / "inferd.yaml")
    assert spec.cost is not None
    (fraud,) = spec.deployments
    time.sleep(TICK_S)  # an interval in which every replica ran from its start
    began = time.monotonic()
    with httpx.Client(base_url=f"http://127.0.0.1:{up.gateway_port}") as client:
        for _ in range(sent):
            answer = client.post(INFER, content=FRAUD_BODY)
            assert answer.status_code == 200, answer.text
    time.sleep(TICK_S)  # the sampler has counted the last request
    patience = time.monotonic() + 4 * TICK_S  # or soon after, on a busy machine
    admin = AdminClient(up.home)
    while True:
        # Intervals that ended after the first request: the first began at most one interval
        # before it, when every replica ran already. The window is counted back from when the
        # server answers, so it is asked over the admin API, in milliseconds: through the CLI,
        # whose start takes seconds on a loaded machine, it lost the intervals just after
        # ``began`` (CI counted 34 of 150).
        elapsed = time.monotonic() - began
        report = dict(admin.cost_report(f"{math.ceil(elapsed)}s"))
        total = report["total"]
        assert isinstance(total, dict)
        if total["predictions"] == sent or time.monotonic() > patience:
            break
        time.sleep(0.5)
    assert total["predictions"] == sent
    assert report["currency"] == spec.cost.currency == "USD"
    covered = report["covered_s"]
    assert isinstance(covered, float)
    assert elapsed - DEFAULT_INTERVAL_S - 1 < covered <= elapsed + DEFAULT_INTERVAL_S + 1
    versions = {v["version"]: v for v in report["versions"]}  # type: ignore[attr-defined]
    price = _replica_hour(spec.cost, fraud)
    for v in fraud.versions:
        assert versions[v.name]["replicas"] == pytest.approx(v.replicas, rel=1e-3)
        assert versions[v.name]["replica_hour"] == pytest.approx(price, rel=1e-6)
        # An ONNX model reads no tokens (its server still declares the LLM token family).
        assert versions[v.name]["tokens"] is None
    assert total["tokens"] is None and total["per_1m_tokens"] is None
    replicas = sum(v.replicas for v in fraud.versions)
    held = replicas * price * covered / 3600
    tolerance = DEFAULT_INTERVAL_S / covered  # within the sampling interval
    assert total["held"] == pytest.approx(held, rel=tolerance)
    assert total["per_1k_predictions"] == pytest.approx(held / sent * 1000, rel=tolerance)
    assert 0 < total["idle"] < total["held"]

    # /metrics counts the same: everything since start, against a report of everything. Money
    # held grows while the replicas run, so the report is read between two scrapes and must lie
    # between them (within a sampling interval): on a loaded machine a CLI call takes seconds.
    before = _series(up)
    since_start = _json(up, "cost", "report", "--window", "1h")
    metrics = _series(up)
    assert metrics["inferd_cost_info"] == {(("currency", "USD"),): 1.0}
    assert sum(metrics["inferd_cost_predictions"].values()) == sent
    everything = {v["version"]: v for v in since_start["versions"]}  # type: ignore[attr-defined]
    since = since_start["covered_s"]
    assert isinstance(since, float)
    slack = DEFAULT_INTERVAL_S / since

    def between(name: str, version: str, reported: float) -> None:
        low, high = _by_version(before[name])[version], _by_version(metrics[name])[version]
        assert low * (1 - slack) <= reported <= high * (1 + slack), (name, low, reported, high)

    for version in _by_version(metrics["inferd_cost_held"]):
        between("inferd_cost_held", version, everything[version]["held"])
    per_1k = _by_version(metrics["inferd_cost_per_1k_predictions"])  # the last 5 minutes
    assert set(per_1k) == {"v1", "v2"}  # the shadow answers no prediction
    for version in per_1k:
        between(
            "inferd_cost_per_1k_predictions", version, everything[version]["per_1k_predictions"]
        )

    # the status document the dashboard draws, and the table
    status = httpx.get(f"http://127.0.0.1:{up.gateway_port}/api/status", timeout=10).json()
    assert status["cost"]["currency"] == "USD"
    assert sum(v["predictions"] for v in status["cost"]["versions"]) == sent
    table = up.cli("cost", "report").stdout
    assert "per node: 0.4 USD/node-hour" in table and "fraud" in table


OVERSIZED = """\
apiVersion: inferd.dev/v1
kind: Stack
gateway: {port: 0, drain_timeout: 5s}
deployments:
  - name: fraud
    versions: [{name: v1, model: "fraud:v1", replicas: 8}]
    resources: {cpu: 500m, memory: 512Mi}
cost:
  currency: EUR
  cpu_core_hour: 0.04
  memory_gib_hour: 0.005
  gpu_hour: {L4: 0.7}
  discount: 0.25
"""


class Paced:
    """About ``rate`` requests a second to the gateway, from one thread, until stopped."""

    def __init__(self, port: int, rate: float) -> None:
        self._client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
        self._every = 1 / rate
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.answered = 0

    def __enter__(self) -> Paced:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self._client.close()

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                if self._client.post(INFER, content=FRAUD_BODY).status_code == 200:
                    self.answered += 1
            except httpx.HTTPError:
                pass  # a replica retiring mid-request: the next one goes elsewhere
            next_at += self._every
            self._stop.wait(max(next_at - time.monotonic(), 0))


def _idle_per_second(up: UpProcess, window_s: int) -> float:
    report = _json(up, "cost", "report", "--window", f"{window_s}s")
    total, covered = report["total"], report["covered_s"]
    assert isinstance(total, dict) and isinstance(covered, float) and covered > 0
    return float(total["idle"]) / covered


def test_recommend_right_sizes_eight_replicas_and_its_patch_cuts_idle_money(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    fraud_store(home)
    spec = tmp_path / "inferd.yaml"
    spec.write_text(OVERSIZED)
    # Started with a relative path, as the docs start it: recommend, run from elsewhere,
    # still finds the spec (it looked for "inferd.yaml" in its own directory).
    up = start_up(home, Path(spec.name), timeout=120, cwd=tmp_path)
    window = 10
    try:
        missing = up.cli("cost", "recommend", "--spec", str(tmp_path / "nope.yaml"), check=False)
        assert missing.returncode == 2 and "no such file" in missing.stderr, missing.stderr
        with Paced(up.gateway_port, rate=20) as load:
            time.sleep(window + TICK_S)  # a window with all 8 ready, under load
            before = _idle_per_second(up, window)
            patched = tmp_path / "patched.yaml"
            advice = _json(
                up, "cost", "recommend", "--window", f"{window}s", "-o", str(patched),
            )  # fmt: skip
            changes = {c["path"]: c for c in advice["changes"]}  # type: ignore[attr-defined]
            replicas = changes["fraud.v1.replicas"]
            assert replicas["current"] == 8 and 1 <= replicas["proposed"] < 8
            assert "req/s" in replicas["arithmetic"]
            assert load_spec(patched).deployments[0].versions[0].replicas < 8
            applied = up.cli("apply", str(patched))
            assert "fraud/v1" in applied.stdout
            time.sleep(window + TICK_S)  # a window of the right-sized version only
            after = _idle_per_second(up, window)
        assert load.answered > 0
        assert after < before / 2, (before, after)
    finally:
        assert up.stop() == 0
