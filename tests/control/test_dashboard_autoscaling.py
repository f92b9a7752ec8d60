"""The dashboard's autoscaling lines in a real headless Chromium: one per scaled version, a
canary woken from zero beside the main version (only one entry per deployment showed)."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from .gateway.conftest import ReplicaProcess, deployment, topology, version
from .test_dashboard import chromium, dashboard_dom, fleet  # noqa: F401 (fixtures)


def entry(name: str, **changes: Any) -> dict[str, Any]:
    """The autoscaler's last decision for fraud/``name``."""
    return {
        "deployment": "fraud", "version": name, "main": True, "scaled_on": "deployment",
        "actual": 1, "ready": 1, "desired": 1, "reason": "steady", "panic": False,
        "stable_wants": 1, "panic_wants": 1, "metric": "concurrency", "value": 0.5,
        "stable": 0.5, "panic_value": 0.5, "idle_s": 0.0, "min_replicas": 0, "max_replicas": 3,
        "cold_start_timeout_s": 30.0, "held": 0, "start_failure": None, **changes,
    }  # fmt: skip


def test_each_scaled_version_has_its_line(
    chromium: str,  # noqa: F811
    fleet: list[ReplicaProcess],  # noqa: F811
    tmp_path: Path,
) -> None:
    v1, v2 = fleet
    topo = topology(deployment("fraud", version("v1", 80, v1), version("v2", 20, v2)))
    scaling = [
        entry("v1", scaled_on="version"),
        entry("v2", main=False, scaled_on="version", actual=3, ready=2, desired=3,
              reason="scale_up", value=3.0, stable=2.5, panic_value=3.0),
    ]  # fmt: skip

    dom = dashboard_dom(chromium, topo, tmp_path / "profile", autoscaling=scaling)
    lines = {
        name: " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())
        for name, text in re.findall(r'<div data-scaled="(\w+)">(.*?)</div>', dom, re.S)
    }
    assert lines == {
        "v1": "v1: 1 ready of 1, wants 1 (steady) · concurrency of its own traffic 0.50 now, "
        "0.50 stable, 0.50 panic window · idle 0 s",
        "v2": "v2 (woken): 2 ready of 3, wants 3 (scale up) · concurrency of its own traffic "
        "3.00 now, 2.50 stable, 3.00 panic window · idle 0 s",
    }


def test_a_version_that_cannot_start_is_not_shown_scaled_to_zero(
    chromium: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    """At zero with its starts failing (a model onnxruntime cannot load): every request gets a
    503, so the card says it cannot start and why, with the requests held meanwhile, as
    ``inferd ps`` does; it used to show a grey "scaled to zero" and nothing of the failure."""
    message = "replica fraud-v1-2 cannot start fraud:broken@sha256:70c6: onnxruntime cannot load"
    failure = {"message": message, "failures": 2, "retry_in_s": 0.256}
    scaling = [entry("v1", actual=0, ready=0, desired=1, reason="scale_from_zero", value=2.0,
                     held=3, start_failure=failure)]  # fmt: skip
    topo = topology(deployment("fraud", version("v1", 100)))

    dom = dashboard_dom(chromium, topo, tmp_path / "profile", autoscaling=scaling)
    badge = re.search(
        r'<div class="card-head"><h2>fraud</h2><span class="([^"]*)"[^>]*>([^<]*)<', dom
    )
    assert badge and badge.groups() == ("badge bad", "cannot start")
    line = re.search(r'<div data-scaled="v1">(.*?)</div>', dom, re.S)
    assert line and line.group(1).endswith(" · idle 0 s · 3 requests held")
    reason = re.search(r'<div class="reason error" data-start-failure="v1">(.*?)</div>', dom)
    assert reason and html.unescape(reason.group(1)) == (
        f"v1: start failed (2 in a row, next try in 0.3 s): {message}"
    )
