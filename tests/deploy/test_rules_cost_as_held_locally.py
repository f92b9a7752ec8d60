"""The cluster cost rules hold what ``inferd up`` holds (docs/cost.md, "capacity held" and
"predictions"): a container without a CPU request holds 1 core, one without a memory request
the peak of its working set; a shadow's mirrored copies are not predictions, so it has no cost
per 1,000 of them (promtool on synthetic kube-state-metrics, cAdvisor and model-server series).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import promtool_test_rules, write_rules

SPEC = """\
apiVersion: inferd.dev/v1
kind: Stack
metadata: {name: shop}
deployments:
  - name: fraud
    versions:
      - {name: v1, model: "fraud:v1", replicas: 2}
      - {name: v2, model: "fraud:v2", replicas: 1}
    traffic: {weights: {v1: 100}, shadow: v2}
"""
_GIB = 2**30
_ON = 'namespace="ml",pod="{pod}"'


def _pod(pod: str, version: str, requests: dict[str, float | int]) -> list[dict[str, str]]:
    """A Running pod of fraud ``version`` whose one container, ``server``, requests
    ``requests`` (resource → amount; none: a BestEffort pod)."""
    on = _ON.format(pod=pod)
    labels = f'label_inferd_dev_deployment="fraud",label_inferd_dev_version="{version}"'
    series = [
        {"series": f"kube_pod_labels{{{on},{labels}}}", "values": "1x90"},
        {"series": f'kube_pod_status_phase{{{on},phase="Running"}}', "values": "1x90"},
        {
            "series": f'kube_pod_container_status_restarts_total{{{on},container="server"}}',
            "values": "0x90",
        },
    ]
    units = {"cpu": "core", "memory": "byte"}
    series += [
        {
            "series": f'kube_pod_container_resource_requests{{{on},container="server",'
            f'resource="{resource}",unit="{units[resource]}"}}',
            "values": f"{amount}x90",
        }
        for resource, amount in requests.items()
    ]
    return series


def _working_set(pod: str, container: str, values: str) -> dict[str, str]:
    on = _ON.format(pod=pod)
    return {
        "series": f'container_memory_working_set_bytes{{{on},container="{container}"}}',
        "values": values,
    }


def _answered(pod: str, version: str) -> dict[str, str]:
    """The pod's server answers 60 requests a minute (a shadow's: the mirrored copies)."""
    on = _ON.format(pod=pod)
    labels = f'deployment="fraud",model="fraud",version="{version}",outcome="success"'
    return {"series": f"inferd_requests_total{{{on},{labels}}}", "values": "0+60x90"}


#: fraud-v1-a requests nothing: 1 core, and the peak of its working set (1 GiB in the hour
#: before, 0.5 GiB now; the pod's own cgroup and the pause container are not containers of it).
#: fraud-v1-b requests 500m and 512Mi, and its 3 GiB working set does not count.
#: fraud-v2-a is the shadow: 500m and 512Mi.
SERIES = [
    *_pod("fraud-v1-a", "v1", {}),
    _working_set("fraud-v1-a", "server", f"{_GIB}x60 {_GIB // 2}x30"),
    _working_set("fraud-v1-a", "", f"{2 * _GIB}x90"),
    _working_set("fraud-v1-a", "POD", f"{_GIB}x90"),
    *_pod("fraud-v1-b", "v1", {"cpu": 0.5, "memory": _GIB // 2}),
    _working_set("fraud-v1-b", "server", f"{3 * _GIB}x90"),
    *_pod("fraud-v2-a", "v2", {"cpu": 0.5, "memory": _GIB // 2}),
    _answered("fraud-v1-a", "v1"),
    _answered("fraud-v1-b", "v1"),
    _answered("fraud-v2-a", "v2"),
]


def _samples(name: str, by_version: dict[str, float], currency: bool = True) -> dict[str, Any]:
    money = ',currency="USD"' if currency else ""
    return {
        "expr": name,
        "eval_time": "90m",
        "exp_samples": [
            {
                "labels": f'{name}{{namespace="ml",deployment="fraud",version="{v}"{money}}}',
                "value": value,
            }
            for v, value in by_version.items()
        ],
    }


@pytest.mark.parametrize(
    ("cost", "v1", "v2"),
    [
        # v1-a: 1 core * 0.04 + 1 GiB * 0.01 = 0.05; v1-b: 0.5 * 0.04 + 0.5 * 0.01 = 0.025.
        ("cost: {cpu_core_hour: 0.04, memory_gib_hour: 0.01}", 0.075, 0.025),
        # v1-a: 0.8 * max(1 / 8 cores, 1 / 32 GiB) = 0.1; v1-b: 0.8 * max(0.5 / 8, 0.5 / 32).
        ("cost: {price_per_node_hour: 0.8, node: {cpu: 8, memory: 32Gi}}", 0.1 + 0.05, 0.05),
    ],
    ids=["per-resource", "per-node"],
)
def test_a_container_without_requests_holds_a_core_and_its_peak_working_set(
    promtool: str, tmp_path: Path, cost: str, v1: float, v2: float
) -> None:
    spec = tmp_path / "inferd.yaml"
    spec.write_text(SPEC + cost + "\n", encoding="utf-8")
    write_rules(tmp_path, spec, "--namespace", "ml")
    test = {
        "interval": "1m",
        "input_series": SERIES,
        "promql_expr_test": [_samples("version:inferd_cost_per_hour:sum", {"v1": v1, "v2": v2})],
    }
    promtool_test_rules(promtool, tmp_path, [test])


def test_a_shadows_mirrored_copies_are_no_predictions(promtool: str, tmp_path: Path) -> None:
    """The shadow's pod is paid for (its money counts), but what it answered were copies."""
    spec = tmp_path / "inferd.yaml"
    spec.write_text(SPEC + "cost: {cpu_core_hour: 0.04}\n", encoding="utf-8")
    write_rules(tmp_path, spec, "--namespace", "ml")
    test = {
        "interval": "1m",
        "input_series": SERIES,
        "promql_expr_test": [
            _samples("version:inferd_predictions:increase1h", {"v1": 7200}, currency=False),
            # 1.5 cores ($0.06/h) over 7,200 predictions an hour, per 1,000.
            _samples("version:inferd_cost_per_1k_predictions:1h", {"v1": 0.06 / 7.2}),
            _samples("version:inferd_cost_per_hour:sum", {"v1": 0.06, "v2": 0.02}),
        ],
    }
    promtool_test_rules(promtool, tmp_path, [test])
