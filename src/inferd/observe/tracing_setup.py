"""Switching tracing on: the one place that imports :mod:`inferd.observe.tracing` (and so
OpenTelemetry), only once tracing is configured."""

from __future__ import annotations

from typing import TYPE_CHECKING

from inferd.config import TracingSettings
from inferd.errors import Unsupported

if TYPE_CHECKING:
    from inferd.observe.tracing import Tracing


def start_tracing(settings: TracingSettings) -> Tracing:
    """A tracer exporting to ``settings.endpoint``. Raises :class:`Unsupported` naming the
    extra to install when OpenTelemetry is missing."""
    try:
        from inferd.observe.tracing import Tracing
    except ImportError as exc:
        raise Unsupported(
            f"tracing needs OpenTelemetry ({exc.name} is not installed): "
            "pip install 'inferd[tracing]'"
        ) from None
    return Tracing(settings)
