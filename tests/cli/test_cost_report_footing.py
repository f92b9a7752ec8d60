"""``inferd cost report``'s money columns foot: a deployment's ``(all versions)`` row and the
total row are the sums of the rows above them as printed. Each amount was rounded to four
significant digits on its own, so three versions of 2/3 each read 0.6667 apiece over a total
of 2: a FinOps reader adding the column up found 2.0001."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from inferd.cli import main
from inferd.control.cost.documents import CostReport
from inferd.cost.accounting import ReplicaSlice, VersionInterval
from inferd.cost.capacity import Capacity
from inferd.cost.prices import Node, PriceBook
from inferd.spec.cost import CostSpec

from .cost_stack import ReportingStack, answered_by, report_of

#: The table's columns of amounts that add up (per 1k, per 1M and shares do not).
HELD, IDLE = 8, 9


def _report(amounts: dict[tuple[str, str], float]) -> CostReport:
    """Each version held one core for ``amount`` seconds at 3,600 a core-hour (so its money is
    ``amount``) and used a quarter of it."""
    book = PriceBook.of(CostSpec(cpu_core_hour=3600, currency="EUR"), Node(8, 32))
    intervals = [
        VersionInterval(
            d, v, end=60.0, seconds=60.0, predictions=10,
            replicas=(ReplicaSlice(amount, Capacity(1.0, 1.0), Capacity(0.25, 0.25)),),
        )
        for (d, v), amount in amounts.items()
    ]  # fmt: skip
    return report_of(book, intervals, 60)


def _rows(doc: CostReport, monkeypatch: pytest.MonkeyPatch) -> dict[tuple[str, str], list[str]]:
    answered_by(monkeypatch, ReportingStack(doc))
    result = CliRunner().invoke(main, ["cost", "report"])
    assert result.exit_code == 0, result.output
    rows = {}
    for line in result.output.splitlines():
        cells = line.split()
        if cells[:1] in (["fraud"], ["churn"]):
            key = (cells[0], "(all versions)" if "(all versions)" in line else cells[1])
            rows[key] = cells[-6:] if key[1] == "(all versions)" else cells
        elif cells[:1] == ["total"]:
            rows[("total", "")] = cells
    return rows


def test_the_deployment_and_total_rows_are_the_sums_of_the_rows_as_printed(
    inferd_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    third = 2 / 3
    doc = _report({("fraud", "v1"): third, ("fraud", "v2"): third, ("churn", "v1"): third})
    rows = _rows(doc, monkeypatch)
    versions = [rows[("fraud", "v1")], rows[("fraud", "v2")], rows[("churn", "v1")]]
    assert versions[0][HELD] == "0.6667"  # four significant digits, as before
    # The summed rows' cells: predictions, held, idle, idle %, per 1k, saved (no tokens here).
    fraud, total = rows[("fraud", "(all versions)")], rows[("total", "")][1:]
    for column, summed in ((HELD, 1), (IDLE, 2)):
        shown = [Decimal(v[column]) for v in versions]
        assert Decimal(fraud[summed]) == shown[0] + shown[1]
        assert Decimal(total[summed]) == sum(shown)


def test_a_column_shows_every_amount_to_the_same_decimals(
    inferd_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = _report({("fraud", "v1"): 12.5, ("fraud", "v2"): 0.00125})
    rows = _rows(doc, monkeypatch)
    held = [rows[("fraud", "v1")][HELD], rows[("fraud", "v2")][HELD], rows[("total", "")][2]]
    assert held == ["12.50000", "0.00125", "12.50125"]  # the total was 12.5, as if 0.00125 were 0
