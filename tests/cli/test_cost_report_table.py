"""``inferd cost report``'s table: a row per version, a row per deployment of several versions
when the stack has several deployments (its money, shadow included, over its predictions), and the
stack's total; a window without measurements (just after `inferd up` starts) says so in words."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from inferd.cli import main
from inferd.control.cost.documents import CostReport, Recommendations
from inferd.cost.accounting import ReplicaSlice, Tokens, VersionInterval
from inferd.cost.capacity import Capacity
from inferd.cost.prices import Node, PriceBook
from inferd.spec.cost import CostSpec

from .cost_stack import ReportingStack, answered_by, report_of


def _interval(
    deployment: str, version: str, predictions: int, shadow: bool = False
) -> VersionInterval:
    one = ReplicaSlice(3600.0, Capacity(1.0, 1.0), Capacity(0.5, 0.5))
    return VersionInterval(
        deployment, version, end=3600.0, seconds=3600.0, replicas=(one,),
        predictions=predictions, shadow=shadow,
    )  # fmt: skip


def _report(intervals: list[VersionInterval]) -> CostReport:
    """The report of an hour in which every version held one replica of a core and a GiB, at
    1 a core-hour and 1 a GiB-hour: 2 a replica-hour."""
    book = PriceBook.of(CostSpec(cpu_core_hour=1, memory_gib_hour=1), Node(8, 32))
    return report_of(book, intervals, 3600)


def _run(doc: CostReport, monkeypatch: pytest.MonkeyPatch) -> str:
    answered_by(monkeypatch, ReportingStack(doc))
    result = CliRunner().invoke(main, ["cost", "report"])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_deployment_of_several_versions_has_a_row(
    inferd_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = _report(
        [
            _interval("fraud", "v1", 1000),
            _interval("fraud", "v2", 0, shadow=True),
            _interval("churn", "v1", 500),
        ]
    )
    lines = _run(doc, monkeypatch).splitlines()
    (row,) = [line for line in lines if "(all versions)" in line]
    # fraud: 2 + 2 held for 1,000 predictions, its shadow's money included
    assert row.split() == ["fraud", "(all", "versions)", "1000", "4", "2", "50%", "4", "0"]
    (total,) = [line for line in lines if line.split()[:1] == ["total"]]
    assert total.split() == ["total", "1500", "6", "3", "50%", "4", "0"]
    assert "TOKENS" not in lines[2]  # classic models alone: no column of dashes


def test_a_language_model_shows_its_tokens_and_their_cost(
    inferd_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tokens were in --json alone: the table of a stack serving an LLM had no token count, and
    its cost per 1M tokens stood beside classic models' dashes."""
    one = ReplicaSlice(3600.0, Capacity(1.0, 1.0), Capacity(0.5, 0.5))
    bot = VersionInterval(
        "bot", "v1", end=3600.0, seconds=3600.0, replicas=(one,), predictions=10,
        tokens=Tokens(prompt=1_500_000, generated=500_000),
    )  # fmt: skip
    lines = _run(_report([bot, _interval("fraud", "v1", 1000)]), monkeypatch).splitlines()
    header = lines[2].split()
    assert header[header.index("PREDICTIONS") + 1] == "TOKENS"
    assert "1M" in header
    (row,) = [line for line in lines if line.split()[:1] == ["bot"]]
    # 2 held for 2,000,000 tokens: 1 per 1M tokens
    assert row.split()[7:] == ["10", "2000000", "2", "1", "50%", "200", "1", "0"]
    (classic,) = [line for line in lines if line.split()[:1] == ["fraud"]]
    assert classic.split()[7:] == ["1000", "-", "2", "1", "50%", "2", "-", "0"]
    (total,) = [line for line in lines if line.split()[:1] == ["total"]]
    assert total.split() == ["total", "1010", "2000000", "4", "2", "50%", "3.96", "2", "0"]


def test_one_deployment_alone_is_the_total(
    inferd_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = _report([_interval("fraud", "v1", 1000), _interval("fraud", "v2", 0, shadow=True)])
    assert "(all versions)" not in _run(doc, monkeypatch)


def test_a_window_without_measurements_says_so(
    inferd_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Just after `inferd up` starts: its first interval closes at its second reading.
    output = _run(_report([]), monkeypatch)
    assert "no measurement in the window yet" in output
    assert "sampled every 5 s" in output
    assert "total" not in output


def test_recommendations_without_measurements_say_so(
    tmp_path: Path, inferd_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tmp_path / "inferd.yaml"
    spec.write_text(
        "apiVersion: inferd.dev/v1\nkind: Stack\ndeployments:\n"
        "  - {name: fraud, versions: [{name: v1, model: 'fraud:v1'}]}\n",
        encoding="utf-8",
    )
    empty: Recommendations = {
        "window_s": 3600.0, "covered_s": 0.0, "advice": [], "changes": [], "gpu": None,
    }  # fmt: skip
    stack = SimpleNamespace(state=SimpleNamespace(spec=str(spec)))
    stack.cost_recommendations = lambda window: empty
    answered_by(monkeypatch, stack)
    result = CliRunner().invoke(main, ["cost", "recommend"])
    assert result.exit_code == 0, result.output
    assert "no measurement in the window yet" in result.output


def test_large_amounts_and_capacities_read_as_plain_numbers(
    inferd_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Four replicas of one core held for an hour are 14,400 core-seconds; at 1,000 (KRW, JPY…) a
    # core-hour and a GiB-hour they cost 8,000 each.
    book = PriceBook.of(
        CostSpec(cpu_core_hour=1000, memory_gib_hour=1000, currency="KRW"), Node(8, 32)
    )
    one = ReplicaSlice(3600.0, Capacity(1.0, 1.0), Capacity(0.5, 0.5))
    interval = VersionInterval(
        "fraud", "v1", end=3600.0, seconds=3600.0, replicas=(one,) * 4, predictions=7
    )
    output = _run(report_of(book, [interval], 3600), monkeypatch)
    assert "e+0" not in output
    (row,) = [line for line in output.splitlines() if line.split()[:1] == ["fraud"]]
    assert row.split()[3:7] == ["7200/14400", "core-s", "7200/14400", "GiB-s"]
    assert row.split()[8:10] == ["8000", "4000"]  # held, idle
    assert "1142857" in row  # per 1k predictions: 8,000 / 7 * 1,000


@pytest.mark.parametrize(
    ("used", "idle"), [(0.998, "<1%"), (0.002, ">99%"), (0.5, "50%"), (1.0, "0%"), (0.0, "100%")]
)
def test_an_idle_share_rounds_to_0_or_100_only_when_it_is(
    used: float, idle: str, inferd_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    book = PriceBook.of(CostSpec(cpu_core_hour=1), Node(8, 32))
    one = ReplicaSlice(3600.0, Capacity(1.0, 1.0), Capacity(used, 0.5))
    interval = VersionInterval("fraud", "v1", end=3600.0, seconds=3600.0, replicas=(one,))
    output = _run(report_of(book, [interval], 3600), monkeypatch)
    (row,) = [line for line in output.splitlines() if line.split()[:1] == ["fraud"]]
    assert row.split()[10] == idle


def test_each_version_is_one_whole_line_however_long_its_names(
    inferd_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The table was cut to 160 columns: long names wrapped onto more lines, and a row of
    ``inferd cost report | grep`` lost its numbers."""
    deployment, version = "fraud-detection-model-europe-west", "candidate-2026-12-07-rc1"
    doc = _report([_interval(deployment, version, 1000), _interval(deployment, "stable", 10)])
    lines = _run(doc, monkeypatch).splitlines()
    (row,) = [line for line in lines if line.split()[:2] == [deployment, version]]
    assert row.split()[2] == "1.00" and row.split()[-5:] == ["2", "1", "50%", "2", "0"]
