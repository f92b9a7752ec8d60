"""Open Inference Protocol v2 over REST (JSON and the binary tensor extension), the repository,
statistics and generate extensions, KServe v1, and the OpenAPI document describing them.

``data_router`` and ``control_router`` (from :mod:`inferd.protocols.v2.routes`) are loaded on
first use, not with this package: ``inferd.protocols.text_wire`` (shared with the OpenAI routes)
reads ``v2.codec``, and the routes import the OpenAI routes, so routers imported here would close
that loop, and a module of it imported first would meet the others half-initialised.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from inferd.protocols.v2.routes import control_router, data_router

__all__ = ["control_router", "data_router"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from inferd.protocols.v2 import routes

        return getattr(routes, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
