"""The parameters the repository extension's load and unload take: one definition for REST and
gRPC, so each refuses the same ones with the same words.

A parameter inferd would parse and then ignore is refused instead (Unsupported: 501 over REST,
UNIMPLEMENTED over gRPC): a client asking for what inferd does not do must learn so. Load takes
only ``reference``, a store reference (``fraud:v2``); Triton's ``config`` and ``file:`` overrides
describe a model repository inferd does not have. Unload takes only ``unload_dependents``, which
tritonclient always sends and which changes nothing here: inferd models have no dependents.
"""

from __future__ import annotations

from inferd.errors import InvalidArgument, Unsupported
from inferd.serving.types import Parameters


def load_reference(parameters: Parameters) -> str | None:
    """The store reference a load names (None: the one the model was served from)."""
    reference: str | None = None
    for key, value in parameters.items():
        if key != "reference":
            raise Unsupported(
                f"load parameter {key!r} is not supported; inferd loads models from its "
                "store: pass the store reference as the string parameter 'reference'"
            )
        if not isinstance(value, str):
            raise InvalidArgument(
                f"load parameter 'reference' must be a string such as 'fraud:v2', not {value!r}"
            )
        reference = value
    return reference


def check_unload(parameters: Parameters) -> None:
    """Refuse an unload parameter other than ``unload_dependents``, and one of it that is not
    a boolean."""
    for key, value in parameters.items():
        if key != "unload_dependents":
            raise Unsupported(f"unload parameter {key!r} is not supported")
        if not isinstance(value, bool):
            raise InvalidArgument(
                f"unload parameter 'unload_dependents' must be a boolean, got {value!r}"
            )
