"""Every dashboard query returns data from a real Prometheus scraping a real ``inferd up``
(issue 17 item 2).

The stack: ``fraud`` with v1, a canary v2 whose card's reference profile is far from the traffic
(drifted), a shadow v3 whose answers are compared, an autoscaler, and a second deployment
``cold`` that starts at zero replicas (its first request is a cold start, then it scales back
to zero); ``cost:`` prices. Prometheus scrapes the gateway's one ``/metrics`` every second while
load runs. Then each query is evaluated through Prometheus's HTTP API as Grafana would ask it —
variables through ``/api/v1/label/…/values``, time series and annotations as range queries over
the run, stat and table queries as instant queries — and must return a finite value. Only a
query marked as needing a GPU, an LLM or prices may come back empty, only if it reads that kind
of series, and only when Prometheus holds no series of that kind at all.

The same Prometheus loads the stack's local rules file (``inferd k8s rules --local``: SLO
recording rules and burn-rate alerts, the alerts), evaluated every second: every rule must be
healthy, and every alert's signal (what its threshold compares) and every recording expression
must return data like a dashboard query. A rule about an event (a failed load, a rollback) may be
empty only if it is marked so; this stack's cold start is such an event and does happen.

The list of evaluated expressions, with what each returned, is printed (``pytest -s``) and
written to ``test-artifacts/prometheus-queries.txt``.
"""

from __future__ import annotations

import math
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pytest

from control.conftest import UpProcess, fraud_store, start_up
from deploy.promql_names import reads_need, substitute
from inferd.deploy.grafana import DASHBOARDS
from inferd.deploy.k8s_options import K8sOptions
from inferd.deploy.rules import all_rule_expressions, rules_file
from inferd.deploy.rules.slo import BUDGET_REMAINING
from inferd.packaging import push
from inferd.spec.loading import parse_spec
from loadgen import LoadGenerator

from .conftest import QUICKSTART, ROOT
from .test_metrics_scrape import _binary, _free_port

pytestmark = pytest.mark.slow

ARTIFACT = ROOT / "test-artifacts" / "prometheus-queries.txt"
#: Every dashboard variable set to All, as Grafana sends it (the variables' allValue).
ALL = {"namespace": ".*", "deployment": ".*", "version": ".*", "gpu": ".*"}
#: Rows per request: the drifted version needs 500 rows before it exports PSI.
ROWS = 16

SPEC = """\
apiVersion: inferd.dev/v1
kind: Stack
gateway: {port: 0, drain_timeout: 5s}
deployments:
  - name: fraud
    versions:
      - {name: v1, model: "fraud:v1", replicas: 1}
      - {name: v2, model: "fraud:drifted", replicas: 1}
      - {name: v3, model: "fraud:v2", replicas: 1}
    traffic: {weights: {v1: 50, v2: 50}, shadow: v3}
    autoscaling: {min_replicas: 1, max_replicas: 2, metric: concurrency, target: 50}
    slo: {availability: 99.5, latency_p99: 250ms, window: 1d}
  - name: cold
    versions:
      - {name: v1, model: "fraud:v1", replicas: 0}
    autoscaling: {min_replicas: 0, max_replicas: 1, stable_window: 1s, panic_window: 500ms,
                  scale_down_window: 500ms, scale_to_zero_after: 1s}
cost: {cpu_core_hour: 0.04, memory_gib_hour: 0.005}
"""


@dataclass(frozen=True, slots=True)
class Check:
    """One expression to evaluate: where it comes from, and how Grafana would ask for it."""

    where: str
    expr: str
    kind: str  # "variable" (label values of a selector), "range" or "instant"
    needs: str | None = None
    #: For variables: the label whose values the variable lists.
    label: str = ""


def dashboard_checks() -> list[Check]:
    out = []
    for d in DASHBOARDS.values():
        out += [
            Check(f"{d.uid} variable ${v.name}", v.selector, "variable", v.needs, v.values_of)
            for v in d.variables
        ]
        out += [
            Check(f"{d.uid} {p.title!r}", q.expr, "instant" if q.instant else "range", q.needs)
            for p in d.panels()
            for q in p.queries
        ]
        out += [Check(f"{d.uid} annotation {a.name!r}", a.expr, "range") for a in d.annotations]
    return out


#: A rule that needs this has data only once its event happened (docs/alerts.md).
EVENT = "event"


def rule_checks() -> list[Check]:
    """Each local rule's signal (an alert) or expression (a recording rule), over the run.

    A rule is written once per deployment; its variants are asked as one union (``or``), which
    has data when any has: ``cold`` serves no drift profile and spends most of the run at zero,
    so its variants of the drift and error-rate alerts are rightly empty while ``fraud``'s are not.
    """
    variants: dict[tuple[str, str, str], list[str]] = {}
    needs: dict[tuple[str, str, str], str | None] = {}
    for rule in all_rule_expressions(parse_spec(SPEC, "inferd.yaml")):
        if "local" not in rule.platforms:
            continue
        key = (rule.kind, rule.group, rule.name)
        variants.setdefault(key, []).append(rule.signal if rule.kind == "alert" else rule.expr)
        need = next((n for n in ("gpu", "llm") if n in rule.needs), None)
        needs[key] = need or (EVENT if EVENT in rule.needs else None)
    return [
        Check(f"{kind} {group}/{name}", " or ".join(f"({e})" for e in exprs), "range",
              needs[(kind, group, name)])
        for (kind, group, name), exprs in variants.items()
    ]  # fmt: skip


def checks() -> list[Check]:
    """What the test evaluates: every dashboard query, then every local rule."""
    return dashboard_checks() + rule_checks()


@dataclass
class Stack:
    up: UpProcess
    prometheus: str
    started: float


def _bodies() -> list[bytes]:
    rows = np.random.default_rng(11).random((64, ROWS, 8), dtype=np.float32)
    return [
        orjson.dumps(
            {
                "inputs": [
                    {
                        "name": "input",
                        "shape": [ROWS, 8],
                        "datatype": "FP32",
                        "data": r.ravel().tolist(),
                    }
                ]
            }
        )
        for r in rows
    ]


def _start_prometheus(target_port: int, work: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    config = work / "prometheus.yml"
    rules = work / "inferd-rules.yaml"
    rules.write_text(rules_file(parse_spec(SPEC, "inferd.yaml"), K8sOptions(), "local"))
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
        f"rule_files: ['{rules}']\n"
        "scrape_configs:\n"
        "  - job_name: inferd\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n"
    )
    proc = subprocess.Popen(
        [_binary("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={work / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return proc, f"http://127.0.0.1:{port}"


def _query(prometheus: str, path: str, **params: Any) -> Any:
    answer = httpx.get(f"{prometheus}{path}", params=params, timeout=10)
    body = answer.json()
    assert answer.status_code == 200 and body["status"] == "success", (path, params, body)
    return body["data"]


def _has(prometheus: str, expr: str, timeout: float) -> bool:
    """Whether Prometheus answers ``expr`` with data within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10)
        except httpx.TransportError:  # not listening yet
            answer = None
        # 503 while Prometheus opens its storage; then the query's own answer.
        if answer is not None and answer.status_code == 200 and answer.json()["data"]["result"]:
            return True
        time.sleep(0.5)
    return False


def _wait_for(prometheus: str, expr: str, timeout: float) -> None:
    if not _has(prometheus, expr, timeout):
        raise AssertionError(f"Prometheus never had {expr} within {timeout} s")


def _cold_start(gateway_port: int, body: bytes) -> None:
    """One request to ``cold``, which waits for its cold start (it scales back to zero later)."""
    cold = httpx.post(
        f"http://127.0.0.1:{gateway_port}/v2/models/cold/infer", content=body, timeout=60
    )
    assert cold.status_code == 200, cold.text


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("prometheus-queries")
    home = root / "home"
    store = fraud_store(home)
    reference = root / "drifted.npy"
    np.save(reference, np.random.default_rng(5).random((2_000, 8)) + 2.0)
    push(store, QUICKSTART / "fraud-v2", "fraud:drifted", reference_data=reference)
    spec = root / "inferd.yaml"
    spec.write_text(SPEC)
    up = start_up(home, spec)
    prometheus, url = _start_prometheus(up.gateway_port, root)
    bodies = _bodies()
    try:
        started = time.time()
        _wait_for(url, 'up{job="inferd"} == 1', 30)
        load = LoadGenerator(
            up.gateway_port,
            "/v2/models/fraud/infer",
            lambda w, n: bodies[(w * 7 + n) % 64],
            workers=1,
        )
        with load:
            _cold_start(up.gateway_port, bodies[0])
            _wait_for(url, "inferd_input_drift_psi", 40)
            _wait_for(url, 'inferd_autoscaler_decisions_total{reason="scale_to_zero"}', 30)
            # The Scaling annotation needs two scrapes that saw `cold`'s desired replicas
            # differ; a scrape that timed out on a busy machine can miss its second or two at
            # one replica. Then scale it from zero again, until Prometheus has seen a change.
            for _ in range(3):
                if _has(
                    url,
                    'changes(inferd_autoscaler_desired_replicas{deployment="cold"}[2m]) > 0',
                    10,
                ):
                    break
                _cold_start(up.gateway_port, bodies[0])
            # Enough scrapes under load that every rate has points to use.
            _wait_for(url, 'count_over_time(up{job="inferd"}[1m]) >= 10', 30)
            yield Stack(up, url, started)
        assert not load.failed(), load.outcomes
    finally:
        prometheus.terminate()
        prometheus.wait(30)
        assert up.stop() == 0


def _finite(result: list[dict[str, Any]]) -> int:
    """How many samples of an instant or range answer are numbers (not NaN or ±Inf)."""
    values = [s["value"] for s in result if "value" in s]
    values += [v for s in result for v in s.get("values", [])]
    return sum(math.isfinite(float(v[1])) for v in values)


def _evaluate(check: Check, stack: Stack, now: float) -> tuple[int, int, str]:
    """(series, finite samples, the expression as sent) of one check."""
    window = f"{math.ceil(now - stack.started)}s"
    expr = substitute(check.expr, ALL, {"$__range": window})
    if check.kind == "variable":
        values = _query(
            stack.prometheus,
            f"/api/v1/label/{check.label}/values",
            **{"match[]": expr, "start": stack.started},
        )
        present = [v for v in values if v]
        return len(present), len(present), expr
    if check.kind == "instant":
        data = _query(stack.prometheus, "/api/v1/query", query=expr, time=now)
    else:
        data = _query(
            stack.prometheus,
            "/api/v1/query_range",
            query=expr,
            start=stack.started,
            end=now,
            step=1,
        )
    return len(data["result"]), _finite(data["result"]), expr


def test_every_dashboard_query_returns_data_from_a_real_prometheus(stack: Stack) -> None:
    names = set(_query(stack.prometheus, "/api/v1/label/__name__/values"))
    now = time.time()
    lines, failures = [], []
    for check in checks():
        series, finite, sent = _evaluate(check, stack, now)
        if finite:
            verdict = "ok"
        elif check.kind == "variable" and check.label == "namespace":
            # A cluster's scrape labels its series with their namespace; inferd up's has none.
            verdict = "no data: inferd up's series carry no namespace"
        elif check.needs == EVENT:
            verdict = "no data: its event did not happen in this run"
        elif check.needs is not None and not reads_need(check.expr, check.needs):
            verdict = f"FAIL: marked as needing {check.needs} but reads no such series"
        elif check.needs is not None and not any(reads_need(n, check.needs) for n in names):
            verdict = f"no data: needs {check.needs} (no such series in this Prometheus)"
        else:
            verdict = "FAIL: no data"
        counts = f"{series:>4} series {finite:>6} values"
        lines.append(f"{verdict:<60} {counts}  {check.where}\n    {' '.join(sent.split())}")
        if verdict.startswith("FAIL"):
            failures.append(lines[-1])
    report = "\n".join(lines)
    ARTIFACT.parent.mkdir(exist_ok=True)
    ARTIFACT.write_text(
        f"{len(lines)} expressions evaluated against Prometheus scraping inferd up "
        f"(every variable All, $__rate_interval 10s)\n\n{report}\n"
    )
    print(f"\n{report}")
    assert not failures, "\n".join(failures)


def test_every_local_rule_is_healthy_in_a_real_prometheus(stack: Stack) -> None:
    groups = _query(stack.prometheus, "/api/v1/rules")["groups"]
    rules = [r for g in groups for r in g["rules"]]
    assert len(rules) >= len({c.where for c in rule_checks()}) > 0
    broken = [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"]
    assert not broken, broken
    # The SLO recording rules record: the error budget left is a number for `fraud`.
    recorded = _query(stack.prometheus, "/api/v1/query", query=BUDGET_REMAINING)
    assert _finite(recorded["result"]) > 0, recorded
