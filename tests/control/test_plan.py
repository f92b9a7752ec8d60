"""Pure decisions of the control plane, driven by tables: the reconciler's plan, the routing
and gateway changes an apply reports or refuses, the restart backoff, and the demo traffic's
request bodies."""

from __future__ import annotations

import numpy as np
import pytest

from inferd.card import Signature, TensorSpec
from inferd.control.apply_plan import (
    Change,
    ReplicaSet,
    RouteChange,
    RoutePart,
    autoscaled_counts,
    desired_state,
    fixed_gateway_changes,
    keep_autoscaled,
    plan,
    render_only_changes,
    route_changes,
    rules_only_changes,
    settings_changes,
)
from inferd.control.demo_traffic import random_body
from inferd.control.replicas.backoff import BackoffPolicy
from inferd.spec.loading import parse_spec
from inferd.spec.model import Spec

from .conftest import spec_text

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


def _fraud(
    weights: dict[str, int], *, shadow: str | None = None, traffic: str = "", deployment: str = ""
) -> Spec:
    """The fraud deployment with one replica per version; ``traffic`` and ``deployment`` are
    YAML lines added to its ``traffic:`` and to the deployment."""
    versions = {name: ("fraud:v1", 1, weight) for name, weight in weights.items()}
    return parse_spec(spec_text(versions, shadow=shadow) + traffic + deployment)


SPLIT = _fraud({"v1": 90, "v2": 10, "s": 0})
STICKY = "      sticky_header: X-User\n"
LOGGING = "    logging:\n      sink: {file: {path: fraud.jsonl}}\n"


@pytest.mark.parametrize(
    ("after", "changed"),
    [
        (SPLIT, ()),
        (_fraud({"v1": 80, "v2": 20, "s": 0}), ("weights",)),
        (_fraud({"v1": 90, "v2": 10, "s": 0}, shadow="s"), ("shadow",)),
        (_fraud({"v1": 90, "v2": 10}), ()),  # s took no traffic: its removal moves none
        (_fraud({"v1": 90, "v2": 10, "s": 0}, traffic=STICKY), ("sticky_header",)),
        (_fraud({"v1": 90, "v2": 10, "s": 0}, traffic="      header_routes:\n"
                "        - {header: X-Beta, value: 'yes', version: v2}\n"), ("header_routes",)),
        (_fraud({"v1": 90, "v2": 10, "s": 0}, deployment=LOGGING), ("logging",)),
        (_fraud({"v1": 50, "v3": 50, "s": 0}, shadow="s", deployment=LOGGING),
         ("weights", "shadow", "logging")),
    ],
    ids=["same", "weights", "shadow", "zero-weight-version-gone", "sticky", "header-routes",
         "logging", "several"],
)  # fmt: skip
def test_route_changes_name_what_the_gateway_is_given_anew(
    after: Spec, changed: tuple[RoutePart, ...]
) -> None:
    d = after.deployments[0]
    expected = [RouteChange("fraud", d.weights(), d.traffic.shadow, changed)] if changed else []
    assert route_changes(SPLIT, after) == expected


def test_route_changes_leave_new_and_removed_deployments_and_header_case_alone() -> None:
    sticky = _fraud({"v1": 90, "v2": 10}, traffic=STICKY)
    assert route_changes(sticky, _fraud({"v1": 90, "v2": 10}, traffic=STICKY.lower())) == []
    assert route_changes(None, SPLIT) == []  # the first apply: every version is added
    two = parse_spec(
        spec_text({"v1": ("fraud:v1", 1, 100)})
        + "  - name: other\n    versions: [{name: v1, model: 'fraud:v1'}]\n"
    )
    assert route_changes(two, _fraud({"v1": 100})) == []
    assert route_changes(_fraud({"v1": 100}), two) == []


def test_a_route_change_is_said_as_its_traffic_and_what_changed() -> None:
    (both,) = route_changes(SPLIT, _fraud({"v1": 80, "v2": 20, "s": 0}, shadow="s"))
    assert both.describe() == "fraud: traffic v1 80%, v2 20%, shadow s (changed: weights, shadow)"
    (off,) = route_changes(_fraud({"v1": 90, "v2": 10, "s": 0}, shadow="s"), SPLIT)
    assert off.describe() == "fraud: traffic v1 90%, v2 10%, no shadow (changed: shadow)"


def test_policy_sections_an_apply_changes_are_named() -> None:
    """Autoscaling, rollout and cost changes take effect at once but start no replica and move
    no traffic: an apply said "no changes" for them. An SLO becomes alerting rules only: an
    apply said it was "in effect now", though nothing in inferd up reads it."""
    scaled = "    autoscaling: {min_replicas: 1, max_replicas: 3}\n"
    slo = "    slo: {availability: 99.9, window: 30d}\n"
    cost = "cost: {price_per_node_hour: 0.4, node: {cpu: 8, memory: 32Gi}}\n"
    with_scaling = _fraud({"v1": 90, "v2": 10, "s": 0}, deployment=scaled)
    assert settings_changes(SPLIT, SPLIT) == [] and settings_changes(None, SPLIT) == []
    assert settings_changes(SPLIT, with_scaling) == ["fraud.autoscaling"]
    both = _fraud({"v1": 90, "v2": 10, "s": 0}, deployment=scaled + slo)
    assert settings_changes(with_scaling, both) == []  # inferd up does not evaluate SLOs
    assert rules_only_changes(with_scaling, both) == ["fraud.slo"]
    assert rules_only_changes(both, both) == [] and rules_only_changes(None, both) == []
    priced = parse_spec(spec_text({"v1": ("fraud:v1", 1, 100)}) + cost)
    assert settings_changes(parse_spec(spec_text({"v1": ("fraud:v1", 1, 100)})), priced) == ["cost"]


def test_a_new_drain_timeout_is_named_as_in_effect() -> None:
    """The one gateway setting an apply changes (the drain of the replicas it retires and, at
    stop, of the gateway): an apply changing only it said "no changes"."""
    one = {"v1": ("fraud:v1", 1, 100)}
    before, after = parse_spec(spec_text(one)), parse_spec(spec_text(one, drain="45s"))
    assert settings_changes(before, after) == ["gateway.drain_timeout"]
    assert settings_changes(after, after) == []


def _autoscaled(replicas: int, bounds: str, model: str = "fraud:v1") -> Spec:
    """The fraud deployment, one version running ``replicas``, autoscaled within ``bounds``."""
    scaling = f"    autoscaling: {{{bounds}, metric: rps, target: 5}}\n" if bounds else ""
    return parse_spec(spec_text({"v1": (model, replicas, 100)}) + scaling)


FILE = _autoscaled(1, "min_replicas: 1, max_replicas: 3")


@pytest.mark.parametrize(
    ("running", "applied", "expected"),
    [
        # The autoscaler took it to 3: the same file again changes nothing.
        (_autoscaled(3, "min_replicas: 1, max_replicas: 3"), FILE, Change("fraud", "v1", "keep")),
        # New bounds clamp the autoscaler's count, from above and from below.
        (_autoscaled(3, "min_replicas: 1, max_replicas: 3"),
         _autoscaled(1, "min_replicas: 1, max_replicas: 2"),
         Change("fraud", "v1", "scale", retire=1)),
        (_autoscaled(0, "min_replicas: 0, max_replicas: 3"), FILE,
         Change("fraud", "v1", "scale", start=1)),
        (_autoscaled(0, "min_replicas: 0, max_replicas: 3"),
         _autoscaled(1, "min_replicas: 0, max_replicas: 3"), Change("fraud", "v1", "keep")),
        # A new model starts with the file's count; without an autoscaler before, so does a
        # version that gains one, and a version that loses it goes back to the file's.
        (_autoscaled(3, "min_replicas: 1, max_replicas: 3"),
         _autoscaled(1, "min_replicas: 1, max_replicas: 3", model="fraud:v2"),
         Change("fraud", "v1", "replace", start=1, retire=3)),
        (_autoscaled(3, ""), FILE, Change("fraud", "v1", "scale", retire=2)),
        (_autoscaled(3, "min_replicas: 1, max_replicas: 3"), _autoscaled(1, ""),
         Change("fraud", "v1", "scale", retire=2)),
    ],
    ids=["same-file", "lower-max", "raised-min", "at-zero", "new-model", "newly-autoscaled",
         "no-longer-autoscaled"],
)  # fmt: skip
def test_an_apply_keeps_the_autoscalers_count_within_the_new_bounds(
    running: Spec, applied: Spec, expected: Change
) -> None:
    """An unchanged spec re-applied to an autoscaled deployment said ``scale (+0 -2
    replicas)`` and undid the autoscaler: the file's ``replicas`` won over the running count."""
    kept = keep_autoscaled(running, applied)
    assert plan(desired_state(running), desired_state(kept)) == [expected]
    assert keep_autoscaled(None, applied) is applied  # the first apply: the file's counts


def test_an_apply_names_the_file_count_the_autoscaler_stands_over() -> None:
    """A changed ``replicas`` on an autoscaled version applied as nothing and ``inferd apply``
    said "no changes", as if the file had not been read."""
    running = _autoscaled(3, "min_replicas: 1, max_replicas: 3")
    five = _autoscaled(2, "min_replicas: 1, max_replicas: 3")
    assert autoscaled_counts(five, keep_autoscaled(running, five)) == [
        "fraud/v1: keeps the autoscaler's 3 replicas (the file's 2 applies only to a new "
        "model; bounds 1-3)"
    ]
    assert autoscaled_counts(running, keep_autoscaled(running, running)) == []
    new_model = _autoscaled(2, "min_replicas: 1, max_replicas: 3", model="fraud:v2")
    assert autoscaled_counts(new_model, keep_autoscaled(running, new_model)) == []


def test_render_only_sections_an_apply_changes_are_named() -> None:
    """``metadata`` and ``registry`` are read by ``inferd k8s render`` alone: an apply that
    changed only them said "no changes"."""
    one = spec_text({"v1": ("fraud:v1", 1, 100)})
    renamed = parse_spec(one + "metadata: {name: shop, labels: {team: ml}}\nregistry: ghcr.io/ml\n")
    assert render_only_changes(parse_spec(one), renamed) == ["metadata", "registry"]
    assert render_only_changes(renamed, renamed) == [] and render_only_changes(None, renamed) == []


@pytest.mark.parametrize(
    ("gateway", "fixed"),
    [
        ("{port: 0, drain_timeout: 10s}", []),
        ("{port: 0, drain_timeout: 45s}", []),  # read at each apply and at stop
        ("{port: 9090, drain_timeout: 10s}", ["gateway.port"]),
        ("{host: 0.0.0.0, port: 0, drain_timeout: 10s}", ["gateway.host"]),
        ("{port: 0, grpc_port: 9091, drain_timeout: 10s}", ["gateway.grpc_port"]),
        ("{port: 0, drain_timeout: 10s, request_timeout: 5s, shadow_timeout: 1s}",
         ["gateway.request_timeout", "gateway.shadow_timeout"]),
        ("{port: 0, drain_timeout: 10s, tracing: {endpoint: 'http://127.0.0.1:4318'}}",
         ["gateway.tracing"]),
    ],
    ids=["same", "drain-timeout", "port", "host", "grpc-port", "timeouts", "tracing"],
)  # fmt: skip
def test_an_apply_may_change_only_the_gateways_drain_timeout(
    gateway: str, fixed: list[str]
) -> None:
    text = spec_text({"v1": ("fraud:v1", 1, 100)})
    changed = parse_spec(text.replace("gateway:\n  port: 0\n  drain_timeout: 10s\n",
                                      f"gateway: {gateway}\n"))  # fmt: skip
    assert fixed_gateway_changes(parse_spec(text).gateway, changed.gateway) == fixed


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
