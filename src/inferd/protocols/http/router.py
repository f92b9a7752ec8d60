"""Method + path-segment routing, with the route table kept as data (the OpenAPI document is
built from it).

A path template is a ``/``-separated list of segments; each segment is a literal, a parameter
``{name}``, or a parameter with a literal suffix ``{name}:predict`` (KServe v1's style).
Parameters match one non-empty segment and arrive percent-decoded. Only when no template fits a
path segment for segment may a template's first parameter span several segments: a model
named ``team/fraud`` is reached at ``/v2/models/team/fraud/infer`` (as tritonclient sends it,
leaving ``/`` unencoded) as well as at ``/v2/models/team%2Ffraud/infer``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote

from inferd.protocols.http.messages import Request, Response

Handler = Callable[[Request], Awaitable[Response]]
#: A route's judgement of a request by its head alone (no body yet, ``params`` set), asked when
#: its client waits for ``100 Continue``: a response refuses it (or raises an
#: :mod:`inferd.errors` error); None lets its body be read.
HeadCheck = Callable[[Request], Response | None]

#: Parameterised paths remembered by :meth:`Router.match`.
MATCH_CACHE_SIZE = 1024


@dataclass(frozen=True, slots=True)
class _Segment:
    literal: str | None
    param: str | None = None
    suffix: str = ""

    def match(self, text: str, params: dict[str, str]) -> bool:
        if self.literal is not None:
            return text == self.literal
        if not text.endswith(self.suffix):
            return False
        value = unquote(text[: len(text) - len(self.suffix)] if self.suffix else text)
        if not value:
            return False
        params[self.param or ""] = value
        return True


def _parse_template(template: str) -> tuple[_Segment, ...]:
    segments: list[_Segment] = []
    for part in template.strip("/").split("/"):
        if part.startswith("{"):
            close = part.index("}")
            segments.append(_Segment(None, part[1:close], part[close + 1 :]))
        else:
            segments.append(_Segment(part))
    return tuple(segments)


@dataclass(frozen=True, slots=True)
class Route:
    """One operation. ``doc`` holds its OpenAPI operation object (summary, schemas, responses),
    opaque to the router."""

    method: str
    template: str
    handler: Handler
    doc: Mapping[str, object] = field(default_factory=dict, compare=False)
    segments: tuple[_Segment, ...] = field(default=(), compare=False)
    #: How specific the template is: a literal segment outranks ``{name}:suffix``, which
    #: outranks ``{name}``. Only the most specific templates matching a path own it.
    rank: int = field(default=0, compare=False)
    #: What the head alone refuses (an unknown model, a media type not spoken); None: nothing.
    head: HeadCheck | None = field(default=None, compare=False)


class Router:
    """Finds the route for a request; 404 and 405 are the caller's to answer."""

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self._by_length: dict[int, list[Route]] = {}
        # Literal paths are looked up in one dict access: the hot infer path has parameters, but
        # health and metadata probes are literal.
        self._literal: dict[tuple[str, str], Route] = {}
        # Matches of parameterised paths, e.g. one model's infer route: a hit skips the segment
        # walk on the hot path. Paths come from clients, so the cache is bounded (cleared when
        # full) and holds only successful matches.
        self._cache: dict[tuple[str, str], tuple[Route, dict[str, str]]] = {}

    def add(
        self,
        method: str,
        template: str,
        handler: Handler,
        doc: Mapping[str, object] | None = None,
        head: HeadCheck | None = None,
    ) -> None:
        segments = _parse_template(template)
        rank = sum(2 if s.literal is not None else 1 if s.suffix else 0 for s in segments)
        route = Route(method, template, handler, doc or {}, segments, rank, head)
        self.routes.append(route)
        if all(s.literal is not None for s in segments):
            self._literal[(method, "/" + "/".join(s.literal or "" for s in segments))] = route
        self._by_length.setdefault(len(segments), []).append(route)

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], list[str]]:
        """``(route, params, allowed)``: ``route`` is None when nothing matches the method;
        ``allowed`` then lists the methods that do match the path (empty: 404, else 405)."""
        route = self._literal.get((method, path.rstrip("/") or "/"))
        if route is not None:
            return route, {}, []
        cached = self._cache.get((method, path))
        if cached is not None:
            return cached[0], dict(cached[1]), []
        parts = path.strip("/").split("/")
        owners = _most_specific(
            (candidate, parts) for candidate in self._by_length.get(len(parts), ())
        ) or _most_specific(self._spanning(parts))
        for candidate, params in owners:
            if candidate.method == method:
                if len(self._cache) >= MATCH_CACHE_SIZE:
                    self._cache.clear()
                self._cache[(method, path)] = (candidate, dict(params))
                return candidate, params, []
        return None, {}, [candidate.method for candidate, _ in owners]

    def _spanning(self, parts: list[str]) -> Iterator[tuple[Route, list[str]]]:
        """Each shorter template with ``parts`` regrouped so that its first parameter takes
        the extra segments (a path no template fits segment for segment)."""
        for length, routes in self._by_length.items():
            extra = len(parts) - length
            if extra <= 0:
                continue
            for candidate in routes:
                first = next((i for i, s in enumerate(candidate.segments) if s.param), None)
                # Every spanned segment must be non-empty: ``/v2/models//infer`` is a missing
                # model name, not a model named ``/infer``.
                if first is not None and all(parts[first : first + extra + 1]):
                    joined = "/".join(parts[first : first + extra + 1])
                    yield candidate, [*parts[:first], joined, *parts[first + extra + 1 :]]


def _most_specific(
    fits: Iterable[tuple[Route, list[str]]],
) -> list[tuple[Route, dict[str, str]]]:
    """The templates that fit their parts, each with its parameters, keeping only the most
    specific: ``/v1/models/m:predict`` also fits ``/v1/models/{model}`` (as a model named
    "m:predict"), so the metadata route neither answers it nor shows up in a 405's ``Allow``."""
    owners: list[tuple[Route, dict[str, str]]] = []
    for candidate, parts in fits:
        params: dict[str, str] = {}
        fitting = zip(candidate.segments, parts, strict=True)
        if all(seg.match(text, params) for seg, text in fitting):
            if owners and candidate.rank < owners[0][0].rank:
                continue
            if owners and candidate.rank > owners[0][0].rank:
                owners.clear()
            owners.append((candidate, params))
    return owners
