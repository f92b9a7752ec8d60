"""Which series a PromQL expression reads, and which series the docs document.

Shared by the dashboard tests and the e2e evaluation against Prometheus (and meant for any other
PromQL inferd ships, such as alert rules). PromQL's real parser is Prometheus's (the tests also
run every expression through ``promtool``); this tokenizer only has to find metric names, so it
skips strings, label matchers ``{…}``, ranges ``[…]``, numbers and durations, function calls,
aggregation operators, keywords with their label lists, and Grafana's ``$variables``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

_AGGREGATIONS = frozenset({
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk",
    "topk", "quantile", "limitk", "limit_ratio",
})  # fmt: skip
#: Keywords followed by a parenthesised list of label names.
_LABEL_LISTS = frozenset(["by", "without", "on", "ignoring", "group_left", "group_right"])
_KEYWORDS = (
    frozenset(["bool", "and", "or", "unless", "offset", "atan2", "inf", "nan"]) | _LABEL_LISTS
)
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_NUMBER = re.compile(r"(0x[0-9a-fA-F]+|[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?)([smhdwy]|ms)*")
_VARIABLE = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?")
_CLOSING = {"{": "}", "[": "]"}
#: The series each need stands for (see ``inferd.deploy.grafana.builder.Need``), by name prefix:
#: a query that reads them is marked with the need, and a query marked with it reads them.
NEED_PREFIXES = {"gpu": ("DCGM_",), "llm": ("inferd_llm_", "gen_ai_")}
#: Money is exported only with a ``cost:`` section (docs/metrics.md#cost); the capacity series
#: (``inferd_cost_*_seconds_total``, ``inferd_cost_predictions_total``) always are.
MONEY_SERIES = frozenset({
    "inferd_cost_info", "inferd_cost_held_total", "inferd_cost_idle_total",
    "inferd_cost_scale_to_zero_savings_total", "inferd_cost_per_1k_predictions",
})  # fmt: skip
#: Series the gateway creates with their first event (a retry, an ejection), not before.
EVENT_SERIES = frozenset({
    "inferd_gateway_upstream_retries_total", "inferd_gateway_outlier_ejections_total",
})  # fmt: skip
NEEDS = ("gpu", "llm", "cost", "event")
HISTOGRAM_PARTS = ("_bucket", "_sum", "_count")


def _skip_string(expr: str, i: int) -> int:
    quote = expr[i]
    i += 1
    while i < len(expr) and expr[i] != quote:
        i += 2 if expr[i] == "\\" and quote != "`" else 1
    if i >= len(expr):
        raise ValueError(f"unterminated string in {expr!r}")
    return i + 1


def _skip_group(expr: str, i: int) -> int:
    """From an opening ``{`` or ``[`` (or ``(`` of a label list) past its closing bracket."""
    closing = _CLOSING.get(expr[i], ")")
    i += 1
    while i < len(expr) and expr[i] != closing:
        i = _skip_string(expr, i) if expr[i] in "\"'`" else i + 1
    if i >= len(expr):
        raise ValueError(f"unclosed {expr[i - 1]!r} in {expr!r}")
    return i + 1


def _next_char(expr: str, i: int) -> tuple[str, int]:
    while i < len(expr) and expr[i].isspace():
        i += 1
    return (expr[i] if i < len(expr) else ""), i


def metric_names(expr: str) -> list[str]:
    """The metric names ``expr`` selects, in order of appearance (duplicates kept)."""
    names: list[str] = []
    i = 0
    while i < len(expr):
        char = expr[i]
        if char.isspace():
            i += 1
        elif char == "#":
            newline = expr.find("\n", i)
            i = len(expr) if newline < 0 else newline
        elif char in "\"'`":
            i = _skip_string(expr, i)
        elif char in "{[":
            i = _skip_group(expr, i)
        elif char == "$":
            match = _VARIABLE.match(expr, i)
            if match is None:
                raise ValueError(f"a lone '$' in {expr!r}")
            i = match.end()
        elif char.isdigit() or (char == "." and expr[i + 1 : i + 2].isdigit()):
            match = _NUMBER.match(expr, i)
            assert match is not None
            i = match.end()
        elif (match := _IDENT.match(expr, i)) is not None:
            word = match.group()
            following, j = _next_char(expr, match.end())
            lower = word.lower()
            if lower in _LABEL_LISTS:
                if following != "(":
                    raise ValueError(f"{word!r} without a label list in {expr!r}")
                i = _skip_group(expr, j)
                continue
            if following != "(" and lower not in _KEYWORDS and lower not in _AGGREGATIONS:
                names.append(word)
            i = match.end()
        else:
            i += 1
    return names


@dataclass(frozen=True, slots=True)
class Documented:
    """A series as a docs table lists it: its name, its type (``None`` where the table has no
    type column), and the document that lists it."""

    name: str
    kind: str | None
    doc: str


_ROW_NAME = re.compile(r"^`([A-Za-z_:][A-Za-z0-9_:]*)`$")


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def documented_series(docs: Path = DOCS) -> dict[str, Documented]:
    """Every series named in the first column of a table in ``docs/*.md``.

    Series tables are those whose first column is headed ``name`` or ``series``. A row names a
    series when its first cell is exactly one backquoted metric name (a wildcard such as
    ``inferd_autoscaler_*`` names none); its type comes from a ``type`` column.
    """
    found: dict[str, Documented] = {}
    for path in sorted(docs.glob("*.md")):
        header: list[str] | None = None
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.startswith("|"):
                header = None
                continue
            cells = _cells(line)
            if header is None:
                header = [c.lower() for c in cells]
                continue
            match = _ROW_NAME.match(cells[0])
            if match is None or header[0] not in ("name", "series"):
                continue
            kind = cells[header.index("type")] if "type" in header else None
            found.setdefault(match.group(1), Documented(match.group(1), kind, path.name))
    return found


def undocumented(name: str, documented: dict[str, Documented]) -> str | None:
    """Why ``name`` is not a documented series, or None when it is one.

    A histogram is stored as ``_bucket``, ``_sum`` and ``_count`` series (never under its own
    name); a counter is documented under its ``_total`` name, as Prometheus stores it.
    """
    entry = documented.get(name)
    if entry is not None:
        if entry.kind == "histogram":
            return f"{name} is a histogram ({entry.doc}): read its _bucket, _sum or _count"
        return None
    for part in HISTOGRAM_PARTS:
        base = documented.get(name.removesuffix(part)) if name.endswith(part) else None
        if base is not None and base.kind in ("histogram", None):
            return None
    return f"{name} is in no series table of docs/*.md"


#: What Grafana puts in place of its interval variables, for a Prometheus that scrapes every
#: second: ``$__rate_interval`` is at least four scrapes, so every rate has points to use.
GRAFANA_INTERVALS = {"$__rate_interval": "10s", "$__interval": "5s", "$__range": "5m"}


def substitute(
    expr: str, variables: dict[str, str], intervals: dict[str, str] | None = None
) -> str:
    """``expr`` as Grafana sends it: its interval variables and ``$name`` (``${name}``)
    dashboard variables replaced; a variable it does not know is an error."""
    values = {**GRAFANA_INTERVALS, **(intervals or {})}

    def replace(match: re.Match[str]) -> str:
        name = match.group().strip("${}")
        key = f"${name}"
        if key in values:
            return values[key]
        if name in variables:
            return variables[name]
        raise KeyError(f"{match.group()} in {expr!r} is not a variable the dashboard defines")

    return _VARIABLE.sub(replace, expr)


def reads_need(expr: str, need: str) -> bool:
    """Whether ``expr`` reads a series of the kind ``need`` stands for."""
    names = metric_names(expr)
    if need == "cost":
        return any(name in MONEY_SERIES for name in names)
    if need == "event":
        return any(name in EVENT_SERIES for name in names)
    return any(name.startswith(NEED_PREFIXES[need]) for name in names)
