"""The Python entry points the docs show as calls name the parameters the code takes.

Each backticked call in docs/*.md of a documented entry point (``build_server(settings,
references)``) must name every parameter the callable requires, and nothing it does not take,
so a reader who copies it gets no TypeError.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from inferd.deploy.grafana import grafana_config_maps
from inferd.protocols.http import HttpServer, Router
from inferd.protocols.v2 import control_router, data_router
from inferd.server import build_server, run

ROOT = Path(__file__).resolve().parents[2]
ENTRY_POINTS: dict[str, Callable[..., object]] = {
    "build_server": build_server,
    "server.run": run,
    "HttpServer": HttpServer,
    "Router.add": Router.add,
    "data_router": data_router,
    "control_router": control_router,
    "grafana_config_maps": grafana_config_maps,
}
CALL = re.compile(r"`(?P<called>[\w.]+)\((?P<args>[^()`]*)\)")


def entry_point(called: str) -> str | None:
    """The entry point ``called`` (as written, maybe with its module) names, if any."""
    return next((k for k in ENTRY_POINTS if called == k or called.endswith("." + k)), None)


def documented_calls() -> list[tuple[str, str, list[str]]]:
    calls: list[tuple[str, str, list[str]]] = []
    for markdown in sorted((ROOT / "docs").glob("*.md")):
        text = markdown.read_text(encoding="utf-8").replace("\n", " ")
        for call in CALL.finditer(text):
            name = entry_point(call.group("called"))
            if name is not None:
                args = [a.split("=")[0].strip() for a in call.group("args").split(",")]
                calls.append((markdown.name, name, [a for a in args if a]))
    return calls


CALLS = documented_calls()


def test_the_docs_show_the_entry_points() -> None:
    assert {"build_server", "data_router", "server.run"} <= {name for _, name, _ in CALLS}


@pytest.mark.parametrize(("doc", "name", "args"), CALLS, ids=str)
def test_a_documented_call_names_the_parameters_the_code_takes(
    doc: str, name: str, args: list[str]
) -> None:
    parameters = inspect.signature(ENTRY_POINTS[name]).parameters
    known = {p for p in parameters if p != "self"}
    required = {
        p.name
        for p in parameters.values()
        if p.name != "self"
        and p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
    assert set(args) <= known, f"{doc}: {name}({', '.join(args)}): not parameters of {name}"
    assert required <= set(args), f"{doc}: {name}({', '.join(args)}) leaves out {required}"
