"""The spec's ``cost`` and ``slo`` sections: sensible prices accepted, nonsense refused at its
line, GPU products recognised by family, SLO windows long enough for the burn-rate alerts."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from inferd.cli import main
from inferd.spec.loading import SpecError, parse_spec
from inferd.spec.types import gpu_family, parse_duration

from .conftest import ONE_DEPLOYMENT

HEAD = ONE_DEPLOYMENT


def _problems(document: str) -> list[tuple[int, int, str]]:
    with pytest.raises(SpecError) as caught:
        parse_spec(document, "inferd.yaml")
    return [(p.line, p.column, p.message) for p in caught.value.problems]


def test_per_resource_prices_with_a_discount() -> None:
    spec = parse_spec(
        HEAD + "cost:\n  cpu_core_hour: 0.04\n  memory_gib_hour: 0.005\n"
        "  gpu_hour: {H100: 2.5, L4: 0.7}\n  discount: 0.3\n  currency: EUR\n",
        "inferd.yaml",
    )
    assert spec.cost is not None
    assert (spec.cost.cpu_core_hour, spec.cost.memory_gib_hour) == (0.04, 0.005)
    assert spec.cost.gpu_hour == {"H100": 2.5, "L4": 0.7}
    assert (spec.cost.discount, spec.cost.currency) == (0.3, "EUR")


def test_node_prices_with_and_without_a_node_shape() -> None:
    spec = parse_spec(
        HEAD + "cost: {price_per_node_hour: 0.4, node: {cpu: 8, memory: 32Gi}}\n", "inferd.yaml"
    )
    assert spec.cost is not None and spec.cost.node is not None
    assert (spec.cost.node.cpu, spec.cost.node.memory) == ("8", "32Gi")
    assert parse_spec(HEAD + "cost: {price_per_node_hour: 0.4}\n", "x").cost is not None


@pytest.mark.parametrize(
    ("cost", "expected"),
    [
        ("cost:\n  cpu_core_hour: -0.04\n", [(7, 18, "greater than or equal to 0")]),
        ("cost:\n  gpu_hour:\n    H100: 2.5\n    X9: 1\n", [(9, 9, "not a GPU product")]),
        ("cost:\n  gpu_hour: {L4: -1}\n", [(7, 18, "greater than or equal to 0")]),
        ("cost:\n  cpu_core_hour: .nan\n", [(7, 18, "finite number")]),
        ("cost:\n  price_per_node_hour: 1\n  cpu_core_hour: 0.1\n",
         [(7, 24, "not both")]),
        ("cost:\n  currency: USD\n", [(7, 3, "no price is set")]),
        ("cost:\n  cpu_core_hour: 1\n  node: {cpu: 8, memory: 1Gi}\n",
         [(8, 9, "set that price")]),
        ("cost:\n  cpu_core_hour: 1\n  discount: 1.0\n", [(8, 13, "less than 1")]),
        ("cost:\n  cpu_core_hour: 1\n  currency: dollars\n", [(8, 13, "not an ISO 4217")]),
        ("cost:\n  cpu_core_hour: 1\n  currency: XYZ\n",
         [(8, 13, "'XYZ' is not an ISO 4217 currency code in use")]),
        ("cost:\n  cpu_core_hour: 1\n  discount: 30\n",
         [(8, 13, "a share off every price, less than 1: for 30% off write 0.3")]),
        ("cost:\n  cpu_core_hour: 1\n  discount: 150\n",
         [(8, 13, "a share off every price, less than 1 (0.3 is 30% off), got 150")]),
    ],
    ids=["negative", "unknown-gpu", "negative-gpu", "nan", "node-and-resource", "no-price",
         "node-shape-without-price", "discount-100%", "currency", "currency-not-in-use",
         "discount-in-percent", "discount-over-100"],
)  # fmt: skip
def test_nonsensical_prices_are_refused_at_their_line(
    cost: str, expected: list[tuple[int, int, str]]
) -> None:
    found = _problems(HEAD + cost)
    assert [(line, col) for line, col, _ in found] == [(e[0], e[1]) for e in expected], found
    for (_, _, message), (_, _, fragment) in zip(found, expected, strict=True):
        assert fragment in message, message


def test_slo_parses_and_its_window_is_checked() -> None:
    spec = parse_spec(
        HEAD + "    slo: {availability: 99.9, latency_p99: 50ms, window: 30d}\n", "inferd.yaml"
    )
    slo = spec.deployments[0].slo
    assert slo is not None
    assert (slo.availability, slo.latency_p99, slo.window) == (99.9, 0.05, 30 * 86400)
    short = _problems(HEAD + "    slo: {availability: 99, window: 6h}\n")
    assert "shorter than a day" in short[0][2]
    assert "less than 100" in _problems(HEAD + "    slo: {availability: 100}\n")[0][2]


@pytest.mark.parametrize(
    ("label", "family"),
    [
        ("NVIDIA-A100-SXM4-80GB", "A100"),
        ("Tesla-T4", "T4"),
        ("NVIDIA H100 80GB HBM3", "H100"),
        ("NVIDIA-A10G", "A10G"),
        ("NVIDIA-L40S", "L40S"),
        ("NVIDIA-H100-80GB-HBM3-SHARED", "H100"),
        ("Radeon-X", None),
    ],
)
def test_gpu_products_are_priced_by_family(label: str, family: str | None) -> None:
    assert gpu_family(label) == family


def test_days_are_a_duration_unit() -> None:
    assert parse_duration("1d12h") == 1.5 * 86400


def test_a_mistyped_currency_is_refused_with_the_codes_it_is_close_to(tmp_path: Path) -> None:
    """``inferd spec validate`` names the field, and suggests the codes in use nearest to it."""
    path = tmp_path / "inferd.yaml"
    path.write_text(HEAD + "cost:\n  cpu_core_hour: 1\n  currency: EUD\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["spec", "validate", str(path)])
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        f"{path}:8:13: cost.currency: 'EUD' is not an ISO 4217 currency code in use; "
        "did you mean 'EUR', 'USD', 'VED'?"
    ]


def test_codes_in_use_are_accepted() -> None:
    for code in ("USD", "EUR", "JPY", "CHF", "INR", "XOF", "SLE", "ZWG"):
        spec = parse_spec(HEAD + f"cost: {{cpu_core_hour: 1, currency: {code}}}\n", "x.yaml")
        assert spec.cost is not None and spec.cost.currency == code
