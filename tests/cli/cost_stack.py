"""Fakes of `inferd up`'s admin API for the ``inferd cost`` command tests: a stack whose server
proposes right-sizing changes for fraud/v1, and one whose server reports a given cost report."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

import inferd.control.admin.client as client_module
from inferd.control.cost.documents import (
    CostReport,
    ProposalRow,
    Recommendations,
    UsageRow,
    cost_report,
)
from inferd.control.cost.sampler import CostSampler
from inferd.cost.accounting import VersionInterval
from inferd.cost.prices import PriceBook


def usage(cores_p95: float = 0.1) -> UsageRow:
    """fraud/v1's measurements: one replica answering about 4 requests a second."""
    return {
        "replicas": 1.0, "requests": 209, "predictions": 209, "rps_p50": 3.4, "rps_p95": 4.0,
        "rps_max": 4.0, "concurrency_p95": 0.0, "concurrency_max": 0.0, "cores_p95": cores_p95,
        "cpu_seconds_per_request": 0.0017, "peak_rss_mib": 106.0, "gpu_busy_p95": None,
        "gpu_memory_gib": None,
    }  # fmt: skip


def proposal(
    field: str,
    current: int | str | None,
    proposed: int | str,
    *,
    version: str | None = None,
    arithmetic: str = "…",
) -> ProposalRow:
    """A proposal for fraud's ``field`` (fraud/``version``'s, when one is named)."""
    owner = "fraud" if version is None else f"fraud.{version}"
    return {
        "path": f"{owner}.{field}", "deployment": "fraud", "version": version, "field": field,
        "current": current, "proposed": proposed, "arithmetic": arithmetic,
    }  # fmt: skip


class RecommendingStack:
    """The admin API of an `inferd up` started from ``spec`` whose server proposes
    ``proposals`` for fraud/v1, of which ``changes`` differ from its running spec."""

    def __init__(
        self,
        spec: Path,
        proposals: Sequence[ProposalRow],
        changes: Sequence[ProposalRow] = (),
        cores_p95: float = 0.1,
    ) -> None:
        self.state = SimpleNamespace(spec=str(spec))
        self._proposals, self._changes = list(proposals), list(changes)
        self._usage = usage(cores_p95)

    def cost_recommendations(self, window: str) -> Recommendations:
        return {
            "window_s": 60.0, "covered_s": 60.0, "gpu": None, "changes": self._changes,
            "advice": [{"deployment": "fraud", "version": "v1", "usage": self._usage,
                        "proposals": self._proposals, "notes": []}],
        }  # fmt: skip


class ReportingStack:
    """The admin API of an `inferd up` whose server reports ``doc``."""

    def __init__(self, doc: CostReport) -> None:
        self.doc = doc

    def cost_report(self, window: str) -> CostReport:
        return self.doc


def report_of(book: PriceBook, intervals: list[VersionInterval], window_s: int) -> CostReport:
    """The cost report a sampler holding ``intervals`` priced by ``book`` makes."""
    sampler = SimpleNamespace(book=lambda: book, intervals=lambda w: intervals, interval_s=5.0)
    return cost_report(cast(CostSampler, sampler), window_s)


def answered_by(monkeypatch: pytest.MonkeyPatch, stack: object) -> None:
    """The CLI's admin client is ``stack``, whatever the home it reads."""
    monkeypatch.setattr(client_module, "AdminClient", lambda root: stack)
