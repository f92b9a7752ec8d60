"""The python runtime: a user class shipped inside the model artifact, run only when trusted.

The card's entrypoint is ``module:Class`` (``module`` may be dotted), resolved inside the
artifact directory. The class is instantiated with no arguments, then ``load(path)`` is called if
it defines one; ``predict(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]`` is required,
``close()`` optional. The class chooses its own device.

Each load imports the user's code under a fresh private package name, so two versions with a
``model.py`` never see each other's modules, nothing stays on ``sys.path``, and closing the
model removes its modules from ``sys.modules``. Inside the artifact, user modules import their
siblings relatively (``from . import helpers``).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import itertools
import re
import sys
import types
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from inferd.card import ModelCard
from inferd.datatypes import Tensors
from inferd.errors import InternalError, InvalidArgument, PermissionDenied
from inferd.runtimes._files import inside
from inferd.runtimes.base import LoadOptions, Model

_ENTRYPOINT = re.compile(r"^([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*):([A-Za-z_]\w*)$")
_loads = itertools.count()


class PythonModel:
    """The user's object; its outputs are checked to be a dict of named arrays."""

    def __init__(self, instance: Any, package: str) -> None:
        self._instance = instance
        self._package = package

    def predict(self, inputs: Tensors) -> Tensors:
        outputs = self._instance.predict(inputs)
        if not isinstance(outputs, dict) or not all(isinstance(k, str) for k in outputs):
            raise InternalError(
                f"the model's predict returned {type(outputs).__name__}, "
                "not a dict of output name to array"
            )
        return {name: np.asarray(value) for name, value in outputs.items()}

    def close(self) -> None:
        close = getattr(self._instance, "close", None)
        if callable(close):
            close()
        _forget(self._package)


def _forget(package: str) -> None:
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        del sys.modules[name]


def _module_file(root: Path, module: str) -> None:
    """Check the module exists as ``a/b.py`` or ``a/b/__init__.py`` inside the artifact."""
    relative = module.replace(".", "/")
    if (root / f"{relative}.py").exists():
        inside(root, f"{relative}.py")
    else:
        inside(root, f"{relative}/__init__.py")


def _private_package(root: Path) -> str:
    """Register an empty package rooted at ``root`` under a name no other load uses."""
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:12]
    name = f"_inferd_model_{digest}_{next(_loads)}"
    package = types.ModuleType(name)
    package.__path__ = [str(root)]
    package.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)
    package.__spec__.submodule_search_locations = [str(root)]
    sys.modules[name] = package
    return name


class PythonRuntime:
    """Imports ``card.entrypoint`` from the artifact; refused unless code is trusted."""

    name: ClassVar[str] = "python"

    def load(self, path: Path, card: ModelCard, options: LoadOptions) -> Model:
        if not options.trust_code:
            raise PermissionDenied(
                "the python runtime runs code shipped inside the model; "
                "it loads only when code is explicitly trusted"
            )
        match = _ENTRYPOINT.match(card.entrypoint or "")
        if match is None:
            raise InvalidArgument(
                f"the python runtime needs an entrypoint 'module:Class', got {card.entrypoint!r}"
            )
        module_name, class_name = match.groups()
        root = (path if path.is_dir() else path.parent).resolve()
        _module_file(root, module_name)
        package = _private_package(root)
        writes_bytecode = sys.dont_write_bytecode
        # No __pycache__ inside the artifact: its files belong to the store, byte for byte.
        sys.dont_write_bytecode = True
        try:
            module = importlib.import_module(f"{package}.{module_name}")
            cls = getattr(module, class_name, None)
            if not isinstance(cls, type) or not callable(getattr(cls, "predict", None)):
                raise InvalidArgument(f"{card.entrypoint!r} is not a class with a predict method")
            instance = cls()
            if callable(getattr(instance, "load", None)):
                instance.load(root)
        except InvalidArgument:
            _forget(package)
            raise
        except Exception as exc:
            _forget(package)
            raise InvalidArgument(
                f"loading {card.entrypoint!r} raised {type(exc).__name__}"
            ) from exc
        finally:
            sys.dont_write_bytecode = writes_bytecode
        return PythonModel(instance, package)
