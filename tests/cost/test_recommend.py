"""Right-sizing as tables: replicas from measured throughput and concurrency, autoscaling
bounds, CPU and memory requests with headroom, batching from the batch-size histogram, GPU
options, and the proposals merged into one change per setting."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from inferd.cost.recommend import (
    Advice,
    GpuOption,
    Proposal,
    gpu_fit,
    recommend,
    spec_changes,
)
from inferd.cost.usage import Usage
from inferd.spec.loading import parse_spec
from inferd.spec.model import Spec

SPEC = """\
apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: fraud
    versions:
      - {name: v1, model: "fraud:v1", replicas: 8}
      - {name: v2, model: "fraud:v2", replicas: 2}
    traffic: {weights: {v1: 90, v2: 10}}
    batching: {max_batch_size: 32}
    resources: {cpu: 500m, memory: 512Mi}
"""
SCALED = SPEC.replace("replicas: 8}", "replicas: 3}") + (
    "    autoscaling: {min_replicas: 2, max_replicas: 10}\n"
)

#: Eight replicas for about 20 requests a second, each request 4 ms of CPU.
IDLE_EIGHT = Usage(
    deployment="fraud", version="v1", seconds=60, replicas=8, requests=1200, predictions=1200,
    rps_p50=20, rps_p95=22, rps_max=25, concurrency_p50=0, concurrency_p95=1, cores_p95=0.12,
    cpu_seconds_per_request=0.004, peak_gib=0.1, gpu_busy_p95=None, gpu_memory_gib=None,
    batches=((1.0, 1000.0), (2.0, 1150.0), (4.0, 1200.0), (math.inf, 1200.0)),
)  # fmt: skip


def _spec(text: str = SPEC) -> Spec:
    return parse_spec(text, "inferd.yaml")


def _advice(u: Usage, text: str = SPEC) -> Advice:
    (found,) = recommend(_spec(text), [u])
    return found


def _proposed(advice: Advice) -> dict[str, object]:
    return {p.field: p.proposed for p in advice.proposals}


def test_eight_replicas_for_twenty_requests_a_second_become_one() -> None:
    advice = _advice(IDLE_EIGHT)
    assert _proposed(advice) == {
        "replicas": 1,
        "resources.cpu": "200m",  # 0.12 cores / 1 replica x 1.3 = 0.156
        "resources.memory": "128Mi",  # 102 MiB x 1.25 = 128
    }
    replicas = advice.proposals[0]
    assert (replicas.current, replicas.version, replicas.path) == (8, "v1", "fraud.v1.replicas")
    assert "a replica serves up to 1 core / 4 ms CPU per request = 250 req/s" in replicas.arithmetic
    assert "p95 load 22 req/s * 1.3 / 250 → 1" in replicas.arithmetic
    assert "p95 in flight 1 / max_batch_size 32 → 1" in replicas.arithmetic
    assert advice.notes == ()


REPLICAS = [
    # (id, changes to the usage, replicas)
    ("CPU-bound: 1000 req/s at 4 ms", {"rps_p95": 1000.0}, 6),
    ("concurrency-bound: 70 in flight", {"concurrency_p95": 70.0}, 3),
    ("heavier requests", {"cpu_seconds_per_request": 0.1}, 3),
    ("capped at 64", {"rps_p95": 1e6}, 64),
]


@pytest.mark.parametrize(
    ("change", "replicas"), [r[1:] for r in REPLICAS], ids=[r[0] for r in REPLICAS]
)
def test_replicas_follow_load(change: dict[str, Any], replicas: int) -> None:
    advice = _advice(dataclasses.replace(IDLE_EIGHT, **change))
    assert _proposed(advice)["replicas"] == replicas


def test_cpu_is_shared_by_the_replicas_it_will_have() -> None:
    # 1000 req/s -> 6 replicas; 5.2 cores in use over them / 6 x 1.3 = 1.127 -> 1150m
    busy = dataclasses.replace(IDLE_EIGHT, rps_p95=1000.0, cores_p95=5.2)
    cpu = next(p for p in _advice(busy).proposals if p.field == "resources.cpu")
    assert cpu.proposed == "1150m"
    assert (
        "p95 5.2 cores in use over its replicas / 6 replicas * 1.3 = 1.13 cores" in cpu.arithmetic
    )


def test_a_version_without_requests_is_not_sized_by_load() -> None:
    quiet = dataclasses.replace(
        IDLE_EIGHT, requests=0, predictions=0, cpu_seconds_per_request=None, batches=()
    )
    advice = _advice(quiet)
    assert _proposed(advice) == {"resources.memory": "128Mi"}
    assert advice.notes == ("no requests in the window: replicas and CPU are not sized by load",)


def test_an_autoscaled_version_gets_bounds_instead_of_a_count() -> None:
    busy = dataclasses.replace(
        IDLE_EIGHT, replicas=3, rps_p50=300.0, rps_p95=500.0, rps_max=800.0, cores_p95=2.0
    )
    proposed = _proposed(_advice(busy, SCALED))
    # median 300 x 1.3 / 250 -> 2; 2 x peak 800 x 1.3 / 250 -> 9; CPU 2 / 3 x 1.3 -> 900m
    assert proposed == {
        "autoscaling.min_replicas": 2,
        "autoscaling.max_replicas": 9,
        "resources.cpu": "900m",
        "resources.memory": "128Mi",
    }


def test_scaling_to_zero_is_kept_and_max_covers_every_version() -> None:
    zero = SCALED.replace("min_replicas: 2", "min_replicas: 0")
    proposed = _proposed(_advice(IDLE_EIGHT, zero))
    assert proposed["autoscaling.min_replicas"] == 0
    assert proposed["autoscaling.max_replicas"] == 3  # v1 has 3 replicas; the load needs 1


BATCHES = [
    # (id, max_batch_size, buckets, proposal or note fragment)
    ("full batches: double", 32,
     ((8.0, 50.0), (16.0, 80.0), (32.0, 100.0), (math.inf, 100.0)), 64),
    ("full at a size between bounds", 24,
     ((8.0, 50.0), (16.0, 85.0), (32.0, 100.0), (math.inf, 100.0)), 48),
    ("headroom left: nothing", 32,
     ((8.0, 95.0), (16.0, 100.0), (32.0, 100.0), (math.inf, 100.0)), None),
    ("one row each: a note", 32, ((1.0, 40.0), (2.0, 40.0), (math.inf, 40.0)),
     "batching never engaged"),
    ("batching off: nothing", 1, ((1.0, 40.0), (math.inf, 40.0)), None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("mbs", "buckets", "expected"), [b[1:] for b in BATCHES], ids=[b[0] for b in BATCHES]
)
def test_batching_from_the_batch_size_histogram(
    mbs: int, buckets: tuple[tuple[float, float], ...], expected: int | str | None
) -> None:
    text = SPEC.replace("max_batch_size: 32", f"max_batch_size: {mbs}")
    advice = _advice(dataclasses.replace(IDLE_EIGHT, batches=buckets), text)
    batch = [p for p in advice.proposals if p.field == "batching.max_batch_size"]
    if isinstance(expected, int):
        assert [p.proposed for p in batch] == [expected]
        assert "batches fill up" in batch[0].arithmetic
    else:
        assert batch == []
        assert any(expected in note for note in advice.notes) if expected else not advice.notes


def test_changes_merge_to_one_per_setting_and_leave_out_the_unchanged() -> None:
    v2 = dataclasses.replace(IDLE_EIGHT, version="v2", replicas=2, cores_p95=1.0, peak_gib=0.5)
    same = dataclasses.replace(v2, rps_p95=500.0)  # v2 needs 3 replicas: 2 -> 3 changes
    changes = spec_changes(recommend(_spec(), [IDLE_EIGHT, same]))
    assert {p.path: p.proposed for p in changes} == {
        "fraud.v1.replicas": 1,
        "fraud.v2.replicas": 3,
        "fraud.resources.cpu": "450m",  # v2's 1.0 / 3 x 1.3 beats v1's 200m
        "fraud.resources.memory": "640Mi",  # v2's 512 MiB x 1.25
    }
    unchanged = dataclasses.replace(IDLE_EIGHT, rps_p95=1500.0, cores_p95=3.08, peak_gib=0.4)
    # 8 replicas, 3.08 / 8 x 1.3 = 0.5005 -> 550m, 409.6 x 1.25 = 512Mi: only cpu changes
    assert [p.path for p in spec_changes(recommend(_spec(), [unchanged]))] == [
        "fraud.resources.cpu"
    ]


def test_quantities_compare_by_value() -> None:
    same = Proposal("fraud", None, "resources.cpu", "0.5", "500m", "")
    assert not same.changes
    assert Proposal("fraud", "v1", "replicas", 2, 3, "").changes


def test_versions_the_spec_no_longer_has_are_skipped() -> None:
    assert recommend(_spec(), [dataclasses.replace(IDLE_EIGHT, version="gone")]) == []


def test_gpu_busy_share_is_a_note() -> None:
    gpu = dataclasses.replace(IDLE_EIGHT, gpu_busy_p95=0.12, gpu_memory_gib=7.5)
    assert any("busy 12%" in n and "7.5 GiB" in n for n in _advice(gpu).notes)


A100_80 = [
    GpuOption("whole A100 80GB", 1.0, 80, 3.5),
    GpuOption("MIG 3g.40gb", 3 / 7, 40, 1.5),
    GpuOption("MIG 2g.20gb", 2 / 7, 20, 1.0),
    GpuOption("MIG 1g.10gb", 1 / 7, 10, 0.5),
]
GPUS = [
    # (id, busy p95, GPU memory GiB, held fraction, chosen)
    ("light: the smallest slice", 0.05, 4.0, 1.0, "MIG 1g.10gb"),
    ("memory decides", 0.05, 12.0, 1.0, "MIG 2g.20gb"),
    ("compute decides", 0.3, 4.0, 1.0, "MIG 3g.40gb"),
    ("busy: only the whole GPU", 0.7, 4.0, 1.0, "whole A100 80GB"),
    ("a slice already: its share of a GPU", 0.9, 4.0, 2 / 7, "MIG 3g.40gb"),
    ("too big for any", 0.9, 79.0, 1.0, None),
]


@pytest.mark.parametrize(
    ("busy", "memory", "fraction", "chosen"), [g[1:] for g in GPUS], ids=[g[0] for g in GPUS]
)
def test_gpu_fit_picks_the_cheapest_option_that_covers_use(
    busy: float, memory: float, fraction: float, chosen: str | None
) -> None:
    best, arithmetic = gpu_fit(busy, memory, fraction, A100_80)
    assert (best.name if best else None) == chosen
    assert arithmetic.startswith(f"needs {busy:.0%} busy")


def test_max_replicas_covers_the_replicas_proposed_for_another_version() -> None:
    # v1 (autoscaled, 3 replicas) is idle; its canary v2 (2 replicas, not autoscaled) needs 6:
    # a max_replicas below 6 would make the patched spec one `inferd apply` refuses.
    busy_canary = dataclasses.replace(
        IDLE_EIGHT, version="v2", replicas=2, rps_p50=1000.0, rps_p95=1100.0, rps_max=1200.0
    )
    idle_main = dataclasses.replace(IDLE_EIGHT, replicas=3)
    advice = recommend(_spec(SCALED), [idle_main, busy_canary])
    changes = {p.path: p.proposed for p in spec_changes(advice)}
    assert changes["fraud.v2.replicas"] == 6  # 1100 x 1.3 / 250 -> 6
    assert changes["fraud.autoscaling.max_replicas"] == 6
    (bound,) = [p for a in advice for p in a.proposals if p.field == "autoscaling.max_replicas"]
    assert bound.arithmetic.endswith("; fraud/v2 is proposed 6 replicas → 6")
