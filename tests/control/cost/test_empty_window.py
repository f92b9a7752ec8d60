"""A priced stack whose window holds no measurement yet (``inferd up`` just started): the
report's money is 0 in the spec's currency, not ``null``, which the report's JSON keeps for a
spec without prices (a client adding up ``total.held`` got None beside a currency)."""

from __future__ import annotations

from inferd.control.cost.documents import cost_report

from .conftest import Fake


def test_an_empty_window_of_a_priced_stack_holds_no_money_not_none(fake: Fake) -> None:
    report = cost_report(fake.sampler(), 3600)  # no tick yet
    assert report["currency"] == "EUR"
    assert report["versions"] == [] and report["covered_s"] == 0
    total = report["total"]
    assert (total["held"], total["used"], total["idle"], total["saved_scale_to_zero"]) == (
        0.0, 0.0, 0.0, 0.0,
    )  # fmt: skip
    assert total["idle_share"] is None and total["per_1k_predictions"] is None


def test_an_empty_window_without_prices_has_no_money(fake: Fake) -> None:
    fake.spec = fake.spec.model_copy(update={"cost": None})
    total = cost_report(fake.sampler(), 3600)["total"]
    assert (total["held"], total["idle"], total["saved_scale_to_zero"]) == (None, None, None)
