"""Big batches of an ONNX model's string inputs run in a worker process of its own.

onnxruntime converts every element of a string tensor to its own string type in one call that
holds the GIL: about 17 ms for 262,144 strings on the development machine
(``bench/event_loop_stall.py``), and no thread or switch interval can cut into one C call. In the
server's process the event loop waits that long, so every health check and small request waits
behind a big string request. In a worker process the conversion holds that process's GIL, not
the server's. A round trip to the worker costs more than converting a few strings, so only a
batch holding more than ``limits.process_string_elements`` strings (16,384 by default, about
1 ms of conversion) goes there; smaller ones run in the server's process, as before.

The worker is the sandbox's (:mod:`inferd.sandbox`) running inferd's own code
(``WorkerSpec.builtin``), started with the model: tensors cross a socket pair as ``.npy`` frames,
BYTES as their lengths and bytes; inferd errors raised in it (a string that is not UTF-8, a shape
onnxruntime refuses) reach the client as they are; a worker that dies fails the batch in flight
with 503 and is restarted with backoff. It runs without resource limits (the model is not
untrusted code), in the sandbox's namespaces where the platform allows them and without them
where it does not. ``limits.process_string_elements: null`` never starts one.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from inferd.datatypes import Array, Tensors, object_array
from inferd.errors import InternalError
from inferd.runtimes.base import LoadOptions, Model
from inferd.runtimes.onnx_session import OnnxModel, open_session
from inferd.sandbox.isolation import Limits
from inferd.sandbox.model import SandboxedModel
from inferd.sandbox.process import WorkerSpec


class StringsOffloaded:
    """An ONNX model with string inputs: its session in the server's process for small batches,
    and the same model in a worker process for batches of more than ``threshold`` strings."""

    #: A batch may wait on the worker: not for the event loop (:mod:`inferd.serving.inline`).
    inline_safe: ClassVar[bool] = False

    def __init__(self, local: OnnxModel, worker: Model, threshold: int) -> None:
        self._local = local
        self._worker = worker
        self._threshold = threshold

    @property
    def worker(self) -> Model:
        """The model in the worker process (for logs and tests)."""
        return self._worker

    def predict(self, inputs: Tensors) -> Tensors:
        strings = sum(v.size for k, v in inputs.items() if k in self._local.string_inputs)
        model = self._worker if strings > self._threshold else self._local
        return model.predict(inputs)

    def close(self) -> None:
        self._local.close()
        self._worker.close()


def offload_strings(
    label: str, local: OnnxModel, file: Path, root: Path, options: LoadOptions
) -> Model:
    """``local`` (the session of ``file``, inside the model directory ``root``), with a worker
    process loaded with the same model for batches of more than
    ``options.process_string_elements`` strings; ``local`` alone when that is None or the model
    has no string input."""
    threshold = options.process_string_elements
    if threshold is None or not local.string_inputs:
        return local
    return StringsOffloaded(local, in_worker(label, file, root, options), threshold)


def in_worker(label: str, file: Path, root: Path, options: LoadOptions) -> Model:
    """The ONNX model in ``file`` (inside the model directory ``root``), loaded in a worker."""
    spec = WorkerSpec(
        root=root,
        module=__name__,
        cls=OnnxWorkerModel.__name__,
        limits=Limits(
            address_space_bytes=None,
            open_files=options.sandbox.max_open_files,
            allow_unisolated=True,
        ),
        cpu_seconds=None,
        timeout_s=options.sandbox.call_timeout_s,
        builtin=True,
        options={
            "file": str(file),
            "device": options.device,
            "intra_op_threads": options.intra_op_threads,
            "inter_op_threads": options.inter_op_threads,
        },
    )
    return SandboxedModel.load(label, spec)


class OnnxWorkerModel:
    """What the worker builds (``WorkerSpec.options`` as keyword arguments): the same session
    and ``predict`` as in the server's process
    (:class:`~inferd.runtimes.onnx_session.OnnxModel`)."""

    #: BYTES arrive as ``str`` (:func:`inferd.sandbox.tensors.receive`): every BYTES input of
    #: an ONNX model is a string tensor, and decoding while receiving saves a pass.
    bytes_as_text = True

    def __init__(
        self,
        file: str,
        device: Literal["cpu", "cuda"],
        intra_op_threads: int,
        inter_op_threads: int,
    ) -> None:
        self._file = Path(file)
        self._options = LoadOptions(
            device=device, intra_op_threads=intra_op_threads, inter_op_threads=inter_op_threads
        )
        self._model: Model | None = None

    def load(self, root: Path) -> None:
        self._model = OnnxModel(open_session(self._file, self._options))

    def predict(self, inputs: Tensors) -> Tensors:
        """The session's outputs, string tensors as UTF-8 ``bytes`` (what BYTES carry, and what
        the sandbox's frames take; the server's encoders write ``str`` and ``bytes`` alike)."""
        if self._model is None:
            raise InternalError("the ONNX worker has no model loaded")
        outputs = self._model.predict(inputs)
        return {name: _utf8(value) if value.dtype.hasobject else value
                for name, value in outputs.items()}  # fmt: skip

    def close(self) -> None:
        if self._model is not None:
            self._model.close()
            self._model = None


def _utf8(value: Array) -> Array:
    items = value.ravel().tolist()
    encoded = [item.encode("utf-8") if isinstance(item, str) else item for item in items]
    return object_array(encoded, value.shape)
