"""The runtime registry: runtimes are classes under the ``inferd.runtimes`` entry-point group.

inferd's own runtimes are declared in its ``pyproject.toml``; third-party packages add theirs the
same way. Each runtime is instantiated once per process and shared (runtimes hold no per-model
state; the :class:`~inferd.runtimes.base.Model` they return does).
"""

from __future__ import annotations

import functools
from importlib.metadata import EntryPoint, entry_points

from inferd.errors import InvalidArgument, Unsupported
from inferd.runtimes.base import Runtime

GROUP = "inferd.runtimes"


def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def available_runtimes() -> list[str]:
    """Names of every registered runtime, sorted (whether or not its framework is installed)."""
    return sorted(_entry_points())


@functools.cache
def get_runtime(name: str) -> Runtime:
    """The shared instance of runtime ``name``.

    Raises InvalidArgument for a name no package registers (listing the available ones) and
    Unsupported when the runtime's framework is not installed (naming what to install).
    """
    ep = _entry_points().get(name)
    if ep is None:
        raise InvalidArgument(
            f"unknown runtime {name!r}; available runtimes: {', '.join(available_runtimes())}"
        )
    try:
        runtime_class = ep.load()
    except ImportError as exc:
        raise Unsupported(
            f"runtime {name!r} cannot be imported (missing module {exc.name!r}); "
            f"install the package that provides it"
        ) from exc
    runtime: Runtime = runtime_class()
    return runtime
