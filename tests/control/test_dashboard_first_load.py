"""The dashboard as first opened, before any traffic: in a real headless Chromium (see
``browser.DevTools``). Without Chromium the tests skip locally and fail in CI (``CI=true``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from .browser import DevTools, chromium, vendored
from .gateway.conftest import ReplicaProcess, deployment, topology, version
from .test_dashboard_in_browser import replica, with_browser

__all__ = ["chromium", "replica", "vendored"]  # fixtures, used by name


def test_no_requests_yet_shows_no_error_rate_rather_than_zero(
    chromium: str, replica: ReplicaProcess, tmp_path: Path
) -> None:
    """With no request in the window there is no error rate and no observed share: the
    deployment's head and the version's row say a dash (as the p50/p99 cells and the
    error-rate chart's gap do), not a 0.0% that reads as a measured, healthy number."""

    def drive(tools: DevTools, base: str) -> tuple[str, str]:
        tools.page("Page.navigate", url=base)
        tools.until("document.querySelectorAll('tr[data-version]').length === 1")
        head: str = tools.js("document.querySelectorAll('.card-head .stat')[1].textContent")
        cells: str = tools.js("[...document.querySelectorAll('tr[data-version] td')]"
                              ".slice(4, 9).map((td) => td.textContent).join('|')")  # fmt: skip
        return head, cells

    head, cells = with_browser(
        topology(deployment("fraud", version("v1", 100, replica))), tmp_path / "profile", drive
    )
    assert head == "\u2013 errors"
    # observed share, req/s, errors, p50, p99
    assert cells == "\u2013|0.0|\u2013|\u2013|\u2013"


def polls(events: list[dict[str, Any]]) -> int:
    """How many /api/status requests the page has sent, by its DevTools network events."""
    return sum(
        1
        for e in events
        if e.get("method") == "Network.requestWillBeSent"
        and e["params"]["request"]["url"].endswith("/api/status")
    )


def test_the_page_loads_without_console_errors(
    chromium: str, vendored: None, replica: ReplicaProcess, tmp_path: Path
) -> None:
    """Opening the page logs nothing at error level: no script error and no failed request
    (the browser's own request for /favicon.ico answered 404 on every load)."""

    def drive(tools: DevTools, base: str) -> list[str]:
        tools.page("Runtime.enable")
        tools.page("Log.enable")
        tools.page("Network.enable")
        tools.page("Page.navigate", url=base)
        tools.until("document.querySelectorAll('tr[data-version]').length === 1")
        # The favicon is asked for once the page has loaded: a few status polls later it has
        # been (the events arrive with each DevTools answer).
        deadline = time.monotonic() + 60
        while polls(tools.events) < 3:
            assert time.monotonic() < deadline, "the page stopped polling /api/status"
            time.sleep(0.2)
            tools.js("1")
        errors: list[str] = []
        for event in tools.events:
            params = event.get("params", {})
            if event.get("method") == "Runtime.exceptionThrown":
                errors.append(str(params["exceptionDetails"]))
            elif event.get("method") == "Runtime.consoleAPICalled" and params["type"] == "error":
                errors.append(str(params["args"]))
            elif event.get("method") == "Log.entryAdded" and params["entry"]["level"] == "error":
                errors.append(f"{params['entry']['text']} {params['entry'].get('url', '')}")
        return errors

    topo = topology(deployment("fraud", version("v1", 100, replica)))
    assert with_browser(topo, tmp_path / "profile", drive) == []


def test_requests_refused_before_a_version_are_shown_on_the_deployment(
    chromium: str, replica: ReplicaProcess, tmp_path: Path
) -> None:
    """No replica ready (the only one crashed and is restarting): the gateway refuses each
    request before picking a version. They are in the deployment's error rate (100% here) but
    in no version's row, so the head said 100% errors over rows of nothing; it now says how
    many requests a second reached no version."""
    topo = topology(deployment("fraud", version("v1", 100, replica, state="starting")))

    def drive(tools: DevTools, base: str) -> tuple[list[int], str, str]:
        body = {"inputs": [{"name": "input", "shape": [1, 8], "datatype": "FP32",
                            "data": [0.0] * 8}]}  # fmt: skip
        tools.page("Page.navigate", url=base)
        tools.until("document.querySelectorAll('tr[data-version]').length === 1")
        codes = [
            httpx.post(f"{base}/v2/models/fraud/infer", json=body, timeout=30).status_code
            for _ in range(3)
        ]
        unrouted: str = tools.until("document.querySelector('[data-unrouted]')?.textContent")
        errors: str = tools.js("document.querySelectorAll('.card-head .stat')[1].textContent")
        return codes, unrouted, errors

    codes, unrouted, errors = with_browser(topo, tmp_path / "profile", drive)
    assert codes == [503, 503, 503]
    assert errors == "100.0% errors"
    rate, said = unrouted.split(" ", 1)
    assert float(rate) > 0
    why = "no replica ready, or a request it cannot route"
    assert said == f"req/s refused before reaching a version ({why})"
