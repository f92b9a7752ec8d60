"""A small typed model of a Grafana dashboard, and its JSON (schema version 39).

Only what inferd's dashboards use: query variables from ``label_values``, the Prometheus data
source as a ``${datasource}`` variable (so the dashboards work with whichever Prometheus data
source a Grafana has), rows of panels laid out left to right, and Prometheus annotations.

Every query carries what it needs beyond a running inferd (:data:`Need`): the tests evaluate each
query against a real Prometheus and accept an empty answer only from a query that needs what the
test machine cannot have (a GPU, an LLM, prices) or an event its run need not have (a retry, an
ejection), and only if the query reads that kind of series.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

#: What a query needs to return data besides an inferd that serves traffic: ``gpu`` (DCGM
#: series from a GPU host), ``llm`` (LLM series), ``cost`` (the spec's ``cost:`` prices) or
#: ``event`` (a series the gateway creates with its first event: a retry, an ejection).
Need = Literal["gpu", "llm", "cost", "event"]
#: What each need means, in the words panel descriptions use.
NEED_TEXT: dict[Need, str] = {
    "gpu": "Needs a GPU: DCGM series come from hosts with NVIDIA GPUs.",
    "llm": "Needs an LLM deployment.",
    "cost": "Needs a `cost:` section with prices in the spec.",
    "event": "Has data once it happened: the gateway creates the series with the first one.",
}

PanelKind = Literal["timeseries", "stat", "table", "heatmap"]
#: Grafana's grid is 24 columns wide.
GRID_WIDTH = 24
DATASOURCE: dict[str, str] = {"type": "prometheus", "uid": "${datasource}"}


@dataclass(frozen=True, slots=True)
class Query:
    """One PromQL target of a panel.

    ``instant`` asks for the value now (stat and table panels); ``heatmap`` returns histogram
    buckets for a heatmap panel; ``legend`` is Grafana's legend format (``{{label}}``).
    """

    expr: str
    legend: str = ""
    needs: Need | None = None
    instant: bool = False
    heatmap: bool = False

    def json(self, ref_id: str) -> dict[str, Any]:
        target: dict[str, Any] = {
            "datasource": DATASOURCE,
            "editorMode": "code",
            "expr": self.expr,
            "legendFormat": self.legend or "__auto",
            "refId": ref_id,
        }
        if self.instant:
            target.update(instant=True, range=False, format="table")
        else:
            target.update(
                instant=False, range=True, format="heatmap" if self.heatmap else "time_series"
            )
        return target


@dataclass(frozen=True, slots=True)
class Column:
    """A column of a table panel: the instant query ``ref_id``'s value, shown as ``title``."""

    title: str
    unit: str = "short"


@dataclass(frozen=True, slots=True)
class Panel:
    """A panel: a title, what it shows (its description), its queries and how to draw them.

    A table panel merges its instant queries on their labels; ``columns`` name each query's value
    column in order (``Value #A``, ``Value #B``…).
    """

    title: str
    description: str
    queries: tuple[Query, ...]
    kind: PanelKind = "timeseries"
    unit: str = "short"
    width: int = 12
    height: int = 8
    #: Threshold lines (timeseries) or colour steps (stat): value → colour.
    thresholds: tuple[tuple[float, str], ...] = ()
    columns: tuple[Column, ...] = ()
    #: Labels a table does not show (besides Time).
    hidden: tuple[str, ...] = ()
    decimals: int | None = None
    #: What the panel says when its queries return nothing (Grafana's "No data").
    no_value: str | None = None

    @property
    def needs(self) -> Need | None:
        """The need of the panel's queries (a panel mixes no needs; checked by the tests)."""
        return next((q.needs for q in self.queries if q.needs is not None), None)

    def json(self, panel_id: int, x: int, y: int) -> dict[str, Any]:
        description = self.description
        if self.needs is not None:
            description = f"{description} {NEED_TEXT[self.needs]}"
        return {
            "datasource": DATASOURCE,
            "description": description,
            "fieldConfig": {"defaults": self._defaults(), "overrides": self._overrides()},
            "gridPos": {"h": self.height, "w": self.width, "x": x, "y": y},
            "id": panel_id,
            "options": self._options(),
            "targets": [q.json(_ref_id(i)) for i, q in enumerate(self.queries)],
            "title": self.title,
            "transformations": self._transformations(),
            "type": self.kind,
        }

    def _defaults(self) -> dict[str, Any]:
        defaults: dict[str, Any] = {"unit": self.unit}
        if self.decimals is not None:
            defaults["decimals"] = self.decimals
        if self.no_value is not None:
            defaults["noValue"] = self.no_value
        if self.kind == "timeseries":
            defaults["custom"] = {
                "drawStyle": "line",
                "fillOpacity": 10,
                "lineWidth": 1,
                "showPoints": "never",
                "spanNulls": False,
                "thresholdsStyle": {"mode": "dashed" if self.thresholds else "off"},
            }
        steps: list[dict[str, Any]] = [{"color": "green", "value": None}]
        steps += [{"color": colour, "value": value} for value, colour in self.thresholds]
        defaults["thresholds"] = {"mode": "absolute", "steps": steps}
        return defaults

    def _overrides(self) -> list[dict[str, Any]]:
        return [
            {
                "matcher": {"id": "byName", "options": _value_column(i, len(self.columns))},
                "properties": [{"id": "unit", "value": column.unit}],
            }
            for i, column in enumerate(self.columns)
        ]

    def _options(self) -> dict[str, Any]:
        if self.kind == "timeseries":
            return {
                "legend": {
                    "calcs": [],
                    "displayMode": "list",
                    "placement": "bottom",
                    "showLegend": True,
                },
                "tooltip": {"mode": "multi", "sort": "desc"},
            }
        if self.kind == "stat":
            return {
                "colorMode": "value",
                "graphMode": "none",
                "justifyMode": "auto",
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "textMode": "auto",
            }
        if self.kind == "heatmap":
            return {
                "calculate": False,
                "cellGap": 1,
                "color": {"mode": "scheme", "scheme": "Oranges", "steps": 64},
                "yAxis": {"axisPlacement": "left"},
                "rowsFrame": {"layout": "auto"},
                "tooltip": {"show": True, "yHistogram": True},
            }
        return {"cellHeight": "sm", "showHeader": True}

    def _transformations(self) -> list[dict[str, Any]]:
        if self.kind != "table":
            return []
        count = len(self.columns)
        names = {_value_column(i, count): c.title for i, c in enumerate(self.columns)}
        excluded = dict.fromkeys(("Time", *self.hidden), True)
        return [
            {"id": "merge", "options": {}},
            {"id": "organize", "options": {"excludeByName": excluded, "renameByName": names}},
        ]


def headline(
    title: str,
    description: str,
    expr: str,
    *,
    needs: Need | None,
    unit: str = "short",
    thresholds: tuple[tuple[float, str], ...] = (),
) -> Panel:
    """One of four stat panels across a dashboard's top row: ``expr``'s value now."""
    now = (Query(expr, "", needs=needs, instant=True),)
    return Panel(title, description, now, "stat", unit, width=6, height=4, thresholds=thresholds)


@dataclass(frozen=True, slots=True)
class Row:
    """A titled row of panels, placed left to right and wrapped at the grid's width."""

    title: str
    panels: tuple[Panel, ...]


@dataclass(frozen=True, slots=True)
class Variable:
    """A query variable: the values of ``label`` on the series ``selector`` selects."""

    name: str
    label: str
    selector: str
    values_of: str
    multi: bool = True
    needs: Need | None = None

    @property
    def definition(self) -> str:
        return f"label_values({self.selector}, {self.values_of})"

    def json(self) -> dict[str, Any]:
        return {
            "allValue": ".*" if self.multi else None,
            "current": {},
            "datasource": DATASOURCE,
            "definition": self.definition,
            "hide": 0,
            "includeAll": self.multi,
            "label": self.label,
            "multi": self.multi,
            "name": self.name,
            "options": [],
            "query": {
                "qryType": 1,
                "query": self.definition,
                "refId": "PrometheusVariableQueryEditor-VariableQuery",
            },
            "refresh": 2,
            "regex": "",
            "skipUrlSync": False,
            "sort": 1,
            "type": "query",
        }


@dataclass(frozen=True, slots=True)
class Annotation:
    """Events drawn on every panel: each point ``expr`` returns is one marker."""

    name: str
    expr: str
    title: str
    colour: str
    step: str = "1m"
    tags: str = ""

    def json(self) -> dict[str, Any]:
        return {
            "datasource": DATASOURCE,
            "enable": True,
            "expr": self.expr,
            "hide": False,
            "iconColor": self.colour,
            "name": self.name,
            "step": self.step,
            "tagKeys": self.tags,
            "textFormat": "",
            "titleFormat": self.title,
            "useValueForTime": False,
        }


@dataclass(frozen=True, slots=True)
class Dashboard:
    """A whole dashboard; :meth:`json` is what Grafana provisions."""

    uid: str
    title: str
    description: str
    variables: tuple[Variable, ...]
    rows: tuple[Row, ...]
    annotations: tuple[Annotation, ...] = ()
    tags: tuple[str, ...] = ("inferd",)
    time_from: str = "now-1h"
    refresh: str = "30s"
    #: Tags of dashboards linked from this one's header.
    links: tuple[str, ...] = ()

    def panels(self) -> Iterator[Panel]:
        for row in self.rows:
            yield from row.panels

    def json(self) -> dict[str, Any]:
        return {
            "annotations": {
                "list": [_builtin_annotations(), *(a.json() for a in self.annotations)]
            },
            "description": self.description,
            "editable": True,
            "fiscalYearStartMonth": 0,
            "graphTooltip": 1,
            "links": [
                {
                    "asDropdown": False,
                    "includeVars": False,
                    "keepTime": True,
                    "tags": [tag],
                    "type": "dashboards",
                }
                for tag in self.links
            ],
            "panels": self._layout(),
            "refresh": self.refresh,
            "schemaVersion": 39,
            "tags": list(self.tags),
            "templating": {"list": [_datasource_variable(), *(v.json() for v in self.variables)]},
            "time": {"from": self.time_from, "to": "now"},
            "timepicker": {},
            "timezone": "browser",
            "title": self.title,
            "uid": self.uid,
            "version": 1,
            "weekStart": "",
        }

    def _layout(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        y = 0
        for row in self.rows:
            out.append(
                {
                    "collapsed": False,
                    "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y},
                    "id": len(out) + 1,
                    "panels": [],
                    "title": row.title,
                    "type": "row",
                }
            )
            y += 1
            x = 0
            height = 0
            for panel in row.panels:
                if x + panel.width > GRID_WIDTH:
                    x, y, height = 0, y + height, 0
                out.append(panel.json(len(out) + 1, x, y))
                x += panel.width
                height = max(height, panel.height)
            y += height
        return out


def _ref_id(index: int) -> str:
    return chr(ord("A") + index)


def _value_column(index: int, count: int) -> str:
    """The name Grafana's merge gives a query's value column (plain ``Value`` when alone)."""
    return "Value" if count == 1 else f"Value #{_ref_id(index)}"


def _datasource_variable() -> dict[str, Any]:
    return {
        "current": {},
        "hide": 0,
        "includeAll": False,
        "label": "Data source",
        "multi": False,
        "name": "datasource",
        "options": [],
        "query": "prometheus",
        "refresh": 1,
        "regex": "",
        "skipUrlSync": False,
        "type": "datasource",
    }


def _builtin_annotations() -> dict[str, Any]:
    """Grafana's own annotations (those a person adds), as every dashboard has them."""
    return {
        "builtIn": 1,
        "datasource": {"type": "grafana", "uid": "-- Grafana --"},
        "enable": True,
        "hide": True,
        "iconColor": "rgba(0, 211, 255, 1)",
        "name": "Annotations & Alerts",
        "type": "dashboard",
    }
