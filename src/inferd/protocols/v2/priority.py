"""Triton's schedule-policy ``priority`` request parameter (tritonclient's ``infer(priority=…)``),
refused over REST and gRPC alike: inferd queues every request of a model in arrival order, so a
priority would be silently ignored. Its sibling ``timeout`` is read (:func:`~inferd.protocols.v2.
codec.request_deadline`)."""

from __future__ import annotations

from collections.abc import Mapping

from inferd.errors import Unsupported

#: The request parameter (Triton's schedule-policy extension).
PRIORITY_PARAMETER = "priority"


def refuse_priority(parameters: Mapping[str, object]) -> None:
    """Refuse a request that sets a priority; 0 (Triton's "the model's default level", what
    tritonclient sends by not sending it) or null is none."""
    value = parameters.get(PRIORITY_PARAMETER)
    if value is None or (type(value) is int and value == 0):
        return
    raise Unsupported(
        "Triton's schedule policy extension (parameters.priority) is not supported: inferd "
        "queues each model's requests in arrival order; send the request without a priority "
        f"(or with 0, the default), not {value!r}"
    )
