"""The rule generator's pure parts as tables: burn rates and their thresholds, the latency
SLI's bucket interpolation, GPU shares, PromQL spelling; and what all_rule_expressions tells a
check against a real Prometheus."""

from __future__ import annotations

import pytest

from inferd.deploy.k8s_options import K8sOptions, Placement
from inferd.deploy.rules import all_rule_expressions
from inferd.deploy.rules.cost import gpu_fraction, ksm_resource
from inferd.deploy.rules.promql import duration, le, number
from inferd.deploy.rules.slo import WINDOWS, burn_rate, burns, error_ratio_threshold, interpolation
from inferd.errors import InvalidArgument
from inferd.spec.model import Spec

DAY = 86400.0
HOUR = 3600.0


@pytest.mark.parametrize(
    ("budget_share", "slo_days", "long_hours", "rate"),
    [
        # The SRE workbook's table (30 days): 2% in 1h, 5% in 6h, 10% in 3 days.
        (0.02, 30, 1, 14.4),
        (0.05, 30, 6, 6.0),
        (0.10, 30, 72, 1.0),
        # The same shares of a 28-day budget burn at a proportionally lower rate.
        (0.02, 28, 1, 13.44),
        (0.05, 28, 6, 5.6),
        (0.10, 28, 72, 0.9333),
        (0.02, 7, 1, 3.36),
    ],
)
def test_burn_rates(budget_share: float, slo_days: int, long_hours: int, rate: float) -> None:
    assert burn_rate(budget_share, slo_days * DAY, long_hours * HOUR) == pytest.approx(
        rate, abs=1e-4
    )


@pytest.mark.parametrize(
    ("objective", "rate", "threshold"),
    [(0.999, 14.4, 0.0144), (0.999, 6, 0.006), (0.999, 1, 0.001), (0.995, 13.44, 0.0672),
     (0.99, 14.4, 0.144), (0.9, 6, 0.6)],
)  # fmt: skip
def test_error_ratio_thresholds(objective: float, rate: float, threshold: float) -> None:
    assert error_ratio_threshold(objective, rate) == pytest.approx(threshold)


@pytest.mark.parametrize(
    ("objective", "slo_days", "pairs"),
    [
        (0.999, 30, [("1h", "5m", "page", 0.0144), ("6h", "30m", "page", 0.006),
                     ("3d", "6h", "ticket", 0.001)]),
        # At 90% the 1h pair would need 144% of requests to fail: left out, the others stay.
        (0.90, 30, [("6h", "30m", "page", 0.6), ("3d", "6h", "ticket", 0.1)]),
        # A 2-day SLO has no 3-day window; 2% of its budget in an hour (0.96x) or 5% in six
        # hours (0.4x) spend it more slowly than the window allows: no pair alerts below 1x, a
        # service within its objective.
        (0.999, 2, [("1h", "5m", "page", 0.001), ("6h", "30m", "page", 0.001)]),
        # Seven days: 3.36x, 1.4x, and the 3-day pair at 1x rather than 0.233x.
        (0.999, 7, [("1h", "5m", "page", 0.00336), ("6h", "30m", "page", 0.0014),
                    ("3d", "6h", "ticket", 0.001)]),
        # 28 days: 10% in 3 days is 0.933x, raised to 1x.
        (0.999, 28, [("1h", "5m", "page", 0.01344), ("6h", "30m", "page", 0.0056),
                     ("3d", "6h", "ticket", 0.001)]),
    ],
)  # fmt: skip
def test_the_window_pairs_an_objective_gets(
    objective: float, slo_days: int, pairs: list[tuple[str, str, str, float]]
) -> None:
    got = [
        (duration(b.window.long_s), duration(b.window.short_s), b.window.severity, b.threshold)
        for b in burns(objective, slo_days * DAY)
    ]
    assert [g[:3] for g in got] == [p[:3] for p in pairs]
    assert [g[3] for g in got] == pytest.approx([p[3] for p in pairs])


@pytest.mark.parametrize("slo_days", [1, 2, 3, 7, 14, 28, 30, 90])
def test_no_pair_alerts_on_a_service_that_meets_its_objective(slo_days: int) -> None:
    """At a burn rate of 1 the budget lasts exactly the window: an alert below it would fire
    on a service that ends its window within its objective."""
    assert all(b.rate >= 1 for b in burns(0.999, slo_days * DAY))
    assert all(b.threshold >= 0.001 - 1e-12 for b in burns(0.999, slo_days * DAY))


def test_each_short_window_is_a_twelfth_of_its_long_one() -> None:
    assert all(w.long_s == 12 * w.short_s for w in WINDOWS)


@pytest.mark.parametrize(
    ("threshold", "weights"),
    [
        (0.25, [(0.25, 1.0)]),
        (0.06, [(0.05, 0.8), (0.1, 0.2)]),
        (0.2, [(0.1, 1 / 3), (0.25, 2 / 3)]),
        # Below the first bound: a share of the first bucket (nothing is faster than 0).
        (0.00005, [(0.0001, 0.5)]),
        # Beyond the last finite bound: that bound (slower requests than it count as slow).
        (60.0, [(30.0, 1.0)]),
    ],
)
def test_the_latency_sli_interpolates_between_buckets(
    threshold: float, weights: list[tuple[float, float]]
) -> None:
    got = interpolation(threshold)
    assert [b for b, _ in got] == [b for b, _ in weights]
    assert [w for _, w in got] == pytest.approx([w for _, w in weights])


@pytest.mark.parametrize(
    ("placement", "share"),
    [
        (Placement(), 1.0),
        (Placement(gpu_product="Tesla-T4", time_slicing=4), 0.25),
        (Placement(gpu_product="NVIDIA-A100-SXM4-80GB", mig_profile="1g.10gb"), 1 / 7),
        (Placement(gpu_product="NVIDIA-H100-80GB-HBM3", mig_profile="3g.40gb"), 3 / 7),
        (Placement(gpu_product="NVIDIA-A30", mig_profile="2g.12gb"), 2 / 4),
    ],
)
def test_gpu_shares(placement: Placement, share: float) -> None:
    assert gpu_fraction(placement) == pytest.approx(share)


def test_a_mig_slice_of_an_unknown_gpu_cannot_be_priced() -> None:
    with pytest.raises(InvalidArgument, match="cannot price a slice of an unnamed GPU product"):
        gpu_fraction(Placement(mig_profile="1g.10gb"))


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(3600, "1h"), (90, "90s"), (0.25, "250ms"), (30 * DAY, "30d"), (3 * DAY, "3d"),
     (1800, "30m"), (0, "0s")],
)  # fmt: skip
def test_durations(seconds: float, text: str) -> None:
    assert duration(seconds) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.4, "0.4"), (256, "256"), (14.4 * 0.001, "0.0144"), (1e-5 * 14.4, "0.000144"), (2.0, "2")],
)
def test_numbers(value: float, text: str) -> None:
    assert number(value) == text


def test_bucket_matchers_match_both_spellings_of_a_whole_bound() -> None:
    assert le(0.25) == 'le="0.25"'
    assert le(30.0) == 'le=~"30|30.0"'
    assert le(float("inf")) == 'le="+Inf"'


def test_resources_as_kube_state_metrics_names_them() -> None:
    assert ksm_resource("nvidia.com/gpu") == "nvidia_com_gpu"
    assert ksm_resource("nvidia.com/mig-1g.10gb") == "nvidia_com_mig_1g_10gb"


def test_every_expression_says_where_it_can_have_data(quickstart: Spec) -> None:
    found = all_rule_expressions(quickstart)
    by_name: dict[str, set[frozenset[str]]] = {}
    for e in found:
        by_name.setdefault(e.name, set()).add(frozenset(e.platforms))
    assert by_name["InferdErrorRateHigh"] == {frozenset({"kubernetes", "local"})}
    assert by_name["InferdReplicaRestarting"] == {frozenset({"kubernetes"}), frozenset({"local"})}
    assert by_name["InferdShadowDivergence"] == {frozenset({"local"})}
    # Replica counts come from kube-state-metrics on a cluster, the autoscaler under inferd up.
    assert by_name["InferdNoReadyReplicas"] == {frozenset({"kubernetes"}), frozenset({"local"})}
    cost = [e for e in found if e.group == "inferd.quickstart.cost"]
    assert cost and all(e.needs == {"kube-state-metrics"} for e in cost)
    for e in found:
        if e.kind == "alert":
            # The signal is the alert's expression without its threshold: it has data while
            # the series exist, firing or not.
            assert e.signal != e.expr
        else:
            assert e.signal == e.expr


def test_with_a_namespace_the_cluster_expressions_carry_it(quickstart: Spec) -> None:
    found = all_rule_expressions(quickstart, K8sOptions(namespace="ml"))
    errors = [e for e in found if e.name == "InferdErrorRateHigh"]
    assert sorted(tuple(e.platforms) for e in errors) == [("kubernetes",), ("local",)]
    (cluster,) = [e for e in errors if "kubernetes" in e.platforms]
    assert 'namespace="ml"' in cluster.expr
