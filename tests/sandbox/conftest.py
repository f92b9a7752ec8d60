"""Helpers for the sandbox tests: trusted python models loaded into their sandbox workers."""

from __future__ import annotations

import textwrap
from pathlib import Path

from inferd.card import ModelCard
from inferd.config import SandboxSettings
from inferd.runtimes import LoadOptions, get_runtime
from inferd.sandbox.model import SandboxedModel


def sandboxed_python(
    directory: Path, source: str, *, name: str = "m", sandbox: SandboxSettings | None = None
) -> SandboxedModel:
    """``source`` (dedented) as ``directory/model.py`` (class ``Model``), loaded trusted as
    ``name`` in its sandbox worker (default settings unless ``sandbox``); the caller closes it."""
    directory.mkdir(exist_ok=True)
    (directory / "model.py").write_text(textwrap.dedent(source))
    options = LoadOptions(trust_code=True, sandbox=sandbox or SandboxSettings())
    card = ModelCard(name=name, runtime="python", entrypoint="model:Model")
    model = get_runtime("python").load(directory, card, options)
    assert isinstance(model, SandboxedModel)
    return model
