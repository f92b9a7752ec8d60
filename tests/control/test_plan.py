"""Pure decisions of the control plane, driven by tables: the reconciler's plan, the restart
backoff, and the demo traffic's request bodies."""

from __future__ import annotations

import numpy as np
import pytest

from inferd.card import Signature, TensorSpec
from inferd.control.apply_plan import Change, ReplicaSet, plan
from inferd.control.demo_traffic import random_body
from inferd.control.replicas.backoff import BackoffPolicy

A, B = "a" * 64, "b" * 64


def _state(**versions: tuple[str, int]) -> dict[tuple[str, str], ReplicaSet]:
    return {("fraud", name): ReplicaSet(fp, n) for name, (fp, n) in versions.items()}


@pytest.mark.parametrize(
    ("actual", "desired", "expected"),
    [
        ({}, _state(v1=(A, 2)), [Change("fraud", "v1", "add", start=2)]),
        (_state(v1=(A, 2)), _state(v1=(A, 2)), [Change("fraud", "v1", "keep")]),
        (_state(v1=(A, 2)), _state(v1=(A, 3)), [Change("fraud", "v1", "scale", start=1)]),
        (_state(v1=(A, 3)), _state(v1=(A, 1)), [Change("fraud", "v1", "scale", retire=2)]),
        (_state(v1=(A, 2)), _state(v1=(B, 1)),
         [Change("fraud", "v1", "replace", start=1, retire=2)]),
        (_state(v1=(A, 2), v2=(B, 1)), _state(v1=(A, 2), v3=(B, 1)),
         [Change("fraud", "v1", "keep"), Change("fraud", "v3", "add", start=1),
          Change("fraud", "v2", "remove", retire=1)]),
    ],
    ids=["add", "keep", "scale-up", "scale-down", "replace", "swap-version"],
)  # fmt: skip
def test_plan(
    actual: dict[tuple[str, str], ReplicaSet],
    desired: dict[tuple[str, str], ReplicaSet],
    expected: list[Change],
) -> None:
    assert plan(actual, desired) == expected


def test_plan_is_idempotent() -> None:
    """Planning the state a plan leads to again changes nothing."""
    desired = _state(v1=(A, 2), v2=(B, 1))
    assert all(c.action == "keep" for c in plan(desired, desired))


def test_backoff_grows_to_its_cap_and_resets_after_a_stable_run() -> None:
    policy = BackoffPolicy(initial_s=0.5, factor=2.0, max_s=4.0, stable_after_s=30.0)
    assert [policy.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert policy.failures_after(previous=5, uptime_s=1.0) == 6
    assert policy.failures_after(previous=5, uptime_s=31.0) == 1


def test_demo_bodies_follow_the_signature() -> None:
    signature = Signature(
        inputs=(
            TensorSpec(name="input", datatype="FP32", shape=(-1, 8)),
            TensorSpec(name="mask", datatype="BOOL", shape=(-1, 3)),
            TensorSpec(name="ids", datatype="INT64", shape=(-1,)),
        )
    )
    rng = np.random.default_rng(0)
    for _ in range(20):
        body = random_body(signature, rng)
        assert body is not None
        x, mask, ids = body["inputs"]
        rows = x["shape"][0]
        assert 1 <= rows <= 4
        assert (x["shape"], mask["shape"], ids["shape"]) == ([rows, 8], [rows, 3], [rows])
        assert len(x["data"]) == rows * 8 and all(isinstance(v, float) for v in x["data"])
        assert all(isinstance(v, bool) for v in mask["data"])
        assert all(isinstance(v, int) for v in ids["data"])
    text = Signature(inputs=(TensorSpec(name="t", datatype="BYTES", shape=(-1,)),))
    assert random_body(text, rng) is None
