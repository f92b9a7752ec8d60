"""The python runtime: a user class shipped inside the model artifact, run only when trusted.

The card's entrypoint is ``module:Class`` (``module`` may be dotted), resolved inside the
artifact directory. The class is instantiated with no arguments, then ``load(path)`` is called if
it defines one; ``predict(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]`` is required,
``close()`` optional. The class chooses its own device.

Trust is the operator's explicit decision (``inferd serve --trust-code NAME[:TAG]``, or
``trust_code: true`` on a version in ``inferd.yaml``), recorded in the store history before the
load. Even then the code never runs in the server: it runs in a worker process of its own
(:mod:`inferd.sandbox`) without network, with a read-only view of the model directory and
resource limits, and it talks to the server in frames of ``.npy`` arrays, never pickle. User
modules import their siblings relatively (``from . import helpers``).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from inferd.card import ModelCard
from inferd.errors import PermissionDenied
from inferd.runtimes._files import python_entrypoint
from inferd.runtimes.base import LoadOptions, Model
from inferd.sandbox.model import SandboxedModel
from inferd.sandbox.process import WorkerSpec


def trust_advice(name: str) -> str:
    """How to trust the code of the model ``name``: what a refusal for want of trust says."""
    return (
        "it loads only when code is explicitly trusted: serve it with `inferd serve … "
        f"--trust-code {name}` (every version) or `--trust-code {name}:TAG` (one tag), or set "
        "`trust_code: true` on its version in inferd.yaml; each trusted load is recorded in the "
        f"store history (`inferd history {name}`)"
    )


def refusal(name: str) -> PermissionDenied:
    """The error for code that was not trusted, saying exactly how to trust it."""
    return PermissionDenied(
        f"the python runtime runs code shipped inside the model; {trust_advice(name)}"
    )


class PythonRuntime:
    """Runs ``card.entrypoint`` from the artifact in a sandbox worker; refused unless trusted."""

    name: ClassVar[str] = "python"

    def load(self, path: Path, card: ModelCard, options: LoadOptions) -> Model:
        if not options.trust_code:
            raise refusal(card.name)
        root = (path if path.is_dir() else path.parent).resolve()
        module, cls = python_entrypoint(root, card.entrypoint)
        spec = WorkerSpec.trusted(root, module, cls, options.sandbox)
        return SandboxedModel.load(card.name, spec)
