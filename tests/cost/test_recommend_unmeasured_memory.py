"""``resources.memory`` is the deployment's, and the renderer makes it the pods' memory limit too:
sized from the versions measured in the window, it would OOM-kill the pods of a version that ran
no replica there (a canary waiting at 0 replicas with a larger model). Such a memory proposal is
held back with a note saying why; one that raises the memory, or whose unmeasured versions run a
model a measured version runs, still stands."""

from __future__ import annotations

import math

from inferd.cost.recommend import recommend, spec_changes
from inferd.cost.usage import Usage
from inferd.spec.loading import parse_spec

SPEC = """\
apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: fraud
    versions:
      - {name: v1, model: "fraud:v1", replicas: 2}
      - {name: v2, model: "fraud:v2", replicas: 0}
    traffic: {weights: {v1: 100}}
    resources: {cpu: 500m, memory: 2Gi}
"""

#: fraud/v1: 100 MiB at its peak; v2 ran no replica in the window.
V1 = Usage(
    deployment="fraud", version="v1", seconds=600, replicas=2, requests=1200, predictions=1200,
    rps_p50=2, rps_p95=2, rps_max=3, concurrency_p50=0, concurrency_p95=1, cores_p95=0.02,
    cpu_seconds_per_request=0.002, peak_gib=100 / 1024, gpu_busy_p95=None, gpu_memory_gib=None,
    batches=((1.0, 1200.0), (math.inf, 1200.0)),
)  # fmt: skip
V2 = Usage(
    deployment="fraud", version="v2", seconds=600, replicas=0, requests=0, predictions=0,
    rps_p50=0, rps_p95=0, rps_max=0, concurrency_p50=0, concurrency_p95=0, cores_p95=0,
    cpu_seconds_per_request=None, peak_gib=None, gpu_busy_p95=None, gpu_memory_gib=None,
    batches=(),
)  # fmt: skip


def _changes(text: str) -> tuple[dict[str, object], list[str]]:
    advice = recommend(parse_spec(text, "inferd.yaml"), [V1, V2])
    notes = [n for a in advice for n in a.notes]
    return {p.path: p.proposed for p in spec_changes(advice)}, notes


def test_memory_is_not_lowered_below_a_version_never_measured() -> None:
    changes, notes = _changes(SPEC)
    assert "fraud.resources.memory" not in changes
    assert changes["fraud.resources.cpu"] == "50m"  # CPU is no limit: it still goes down
    assert any(
        "resources.memory 2Gi kept" in n and "fraud/v2 (fraud:v2) ran no replica" in n
        for n in notes
    ), notes


def test_an_unset_memory_is_not_made_a_limit_either() -> None:
    changes, notes = _changes(SPEC.replace(", memory: 2Gi", ""))
    assert "fraud.resources.memory" not in changes
    assert any("resources.memory unset kept" in n for n in notes), notes


def test_a_raise_still_stands() -> None:
    changes, _ = _changes(SPEC.replace("memory: 2Gi", "memory: 64Mi"))
    assert changes["fraud.resources.memory"] == "128Mi"  # 100 MiB x 1.25 -> 128Mi


def test_the_same_model_measured_in_another_version_covers_it() -> None:
    changes, notes = _changes(SPEC.replace('"fraud:v2"', '"fraud:v1"'))
    assert changes["fraud.resources.memory"] == "128Mi"
    assert not [n for n in notes if "kept" in n]
