"""The runtime seam: how files in a model artifact become something that predicts.

A runtime is a class registered under the ``inferd.runtimes`` entry-point group. It loads the
files of one model version (already verified and materialised on disk by the store) into a
:class:`Model`, which predicts on dicts of numpy arrays. Batching, queues and protocols live
elsewhere; a runtime only turns a batch of inputs into a batch of outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal, Protocol, runtime_checkable

from inferd.card import ModelCard
from inferd.config import SandboxSettings
from inferd.datatypes import Tensors


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """How to load: where to run, how many threads, and whether and how code may run."""

    device: Literal["cpu", "cuda"] = "cpu"
    #: ``device`` was chosen by ``--device auto`` (CUDA where onnxruntime can use it): a
    #: runtime that computes on the CPU only loads there instead of refusing.
    device_auto: bool = False
    #: Threads inside one operator (onnxruntime intra-op); 0 lets the runtime decide.
    intra_op_threads: int = 1
    inter_op_threads: int = 1
    #: The operator explicitly allowed code to run on load (python runtime, pickle formats).
    trust_code: bool = False
    #: Limits and isolation of the worker process that runs trusted code (python runtime).
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)
    #: ONNX batches of more strings than this run in a worker process (runtimes.onnx_worker);
    #: None: never.
    process_string_elements: int | None = 16384
    #: For an adapter version: the verified file of the base model its card pins.
    base: Path | None = None
    #: Language models: sequences generated together, generations waiting for one of them, and
    #: context per sequence (None: the runtime's defaults; ``inferd serve --max-num-seqs``,
    #: ``--max-waiting-seqs``, ``--max-model-len``).
    max_num_seqs: int | None = None
    max_waiting_seqs: int | None = None
    max_model_len: int | None = None


@runtime_checkable
class Model(Protocol):
    """A loaded model version. ``predict`` is called off the event loop, one batch at a time."""

    def predict(self, inputs: Tensors) -> Tensors: ...

    def close(self) -> None: ...


@runtime_checkable
class MayBeUnavailable(Protocol):
    """A model that can be unable to take a call for a while (a sandboxed model whose worker
    died and is restarting): readiness reports it not ready meanwhile."""

    @property
    def available(self) -> bool: ...


class Runtime(Protocol):
    """Loads a model directory described by a card."""

    name: ClassVar[str]

    def load(self, path: Path, card: ModelCard, options: LoadOptions) -> Model: ...
