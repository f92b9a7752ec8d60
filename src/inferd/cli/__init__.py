"""The ``inferd`` command line.

Commands register themselves on ``main`` when their module loads, and a module loads only when
one of its commands runs or help lists them (``_app.COMMAND_MODULES``), so that a command pays
only for what it uses: ``inferd serve`` starts without the registry, table or Kubernetes code.

``main`` itself loads on first use, not with this package, so that the console script
(:mod:`inferd.cli._console`) imports it inside its Ctrl-C handler.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from inferd.cli._app import main

__all__ = ["main"]


def __getattr__(name: str) -> Any:
    if name == "main":
        from inferd.cli._app import main

        return main
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
