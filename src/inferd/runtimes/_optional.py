"""Importing a runtime's optional framework, with an error that says what to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from inferd.errors import Unsupported


def import_optional(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise Unsupported naming the pip extra that provides it.

    Called when a runtime is instantiated, so the core installs and imports without the
    framework, and asking for the runtime fails at once with the fix in the message.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise Unsupported(
            f"the {extra} runtime needs {module!r}, which is not installed: "
            f"pip install 'inferd[{extra}]'"
        ) from exc
