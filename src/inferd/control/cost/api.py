"""The cost routes of the admin API (loopback, bearer token: see
:mod:`inferd.control.admin.api`)::

    GET /admin/cost?window=1h                   per version over the window: capacity held and
                                                used, predictions, money, cost per 1k (CostReport)
    GET /admin/cost/recommendations?window=1h   right-sizing with its arithmetic and the changes
                                                a spec patch would make (Recommendations)

``window`` is a duration (``20s``, ``5m``, ``1h``; default 1h) of at least one sampling interval
(5 seconds) and at most what the sampler keeps (2 hours); anything else is a 400 naming the
problem.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from inferd.control.cost.documents import cost_report, recommendations
from inferd.control.cost.sampler import DEFAULT_INTERVAL_S, KEEP_S, CostSampler
from inferd.errors import InvalidArgument
from inferd.protocols.http import Request, Response, Router, json_response
from inferd.spec.types import parse_duration

#: The window a report covers when none is asked for.
DEFAULT_WINDOW = "1h"


def add_routes(router: Router, sampler: CostSampler) -> None:
    """Register the cost routes for ``sampler`` on ``router``."""

    async def report(request: Request) -> Response:
        return json_response(cost_report(sampler, _window(request.query, sampler)))

    async def recommend(request: Request) -> Response:
        return json_response(recommendations(sampler, _window(request.query, sampler)))

    router.add("GET", "/admin/cost", report)
    router.add("GET", "/admin/cost/recommendations", recommend)


def parse_window(
    text: str, longest_s: float = KEEP_S, shortest_s: float = DEFAULT_INTERVAL_S
) -> float:
    """A report window in seconds; InvalidArgument naming what is wrong with ``text``.

    A window shorter than one sampling interval (``shortest_s``) would hold no interval or one,
    by chance of when it is asked: it is refused rather than answered with an empty report."""
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise InvalidArgument(f"window: {exc}") from None
    if seconds <= 0:
        raise InvalidArgument(f"window: {text!r} is no time at all; ask for e.g. '20s' or '1h'")
    if seconds < shortest_s:
        raise InvalidArgument(
            f"window: {text!r} is shorter than the {shortest_s:g} s between two samples, so it "
            f"would hold no measurement; ask for at least {shortest_s:g}s"
        )
    if seconds > longest_s:
        raise InvalidArgument(
            f"window: {text!r} is longer than the {longest_s / 3600:g} h of measurements "
            "inferd up keeps"
        )
    return seconds


def _window(query: str, sampler: CostSampler) -> float:
    # An empty ``window=`` is a window asked for and missing, not the default.
    values = parse_qs(query, keep_blank_values=True).get("window")
    text = values[0] if values else DEFAULT_WINDOW
    return parse_window(text, sampler.keep_s, sampler.interval_s)
