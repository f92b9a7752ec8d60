"""An onnxruntime session and the model around it, in the server's process or in the string
worker (:mod:`inferd.runtimes.onnx_worker`): CPU by default, the CUDA provider when asked and
present."""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

from inferd.datatypes import Tensors
from inferd.errors import InternalError, InvalidArgument, Unsupported
from inferd.runtimes._text import as_text
from inferd.runtimes.base import LoadOptions

_CUDA = "CUDAExecutionProvider"
_CPU = "CPUExecutionProvider"
_ORT_PREFIX = "INVALID_ARGUMENT : "
#: How onnxruntime's OneHotEncoder refuses a category it was not fitted on: the client's value.
_UNKNOWN_CATEGORY = "Unknown Category"
#: onnxruntime's preamble of a load failure ("[ONNXRuntimeError] : 1 : FAIL : Load model from
#: /abs/path failed:"), and the C++ source location some of its messages start with
#: ("/onnxruntime_src/…/model.cc:256 onnxruntime::Model::Model(…) ").
_ORT_PREAMBLE = re.compile(r"^\[ONNXRuntimeError\] : \d+ : \w+ : (?:Load model from .*? failed:)?")
_SOURCE_LOCATION = re.compile(r"^(?:Exception during initialization: |Fatal error: )?/\S+:\d+ ")
_MAX_REASON = 600
_STATUS = "Status Message: "
# onnxruntime's exceptions derive from Exception directly, not from one common base.
_RUN_FAILURES = (
    RuntimeError,
    ort_errors.Fail,
    ort_errors.RuntimeException,
    ort_errors.EPFail,
    ort_errors.NotImplemented,
)
_LOAD_FAILURES = (
    *_RUN_FAILURES,
    ort_errors.InvalidArgument,
    ort_errors.InvalidGraph,
    ort_errors.InvalidProtobuf,
    ort_errors.NoSuchFile,
)


def providers(device: str) -> list[str]:
    """Execution providers for ``device``; asking for CUDA on a host without it is an error
    (silently running on CPU would hide a misconfigured GPU deployment)."""
    if device != "cuda":
        return [_CPU]
    if _CUDA not in ort.get_available_providers():
        raise Unsupported(
            "device 'cuda' was requested but onnxruntime has no CUDAExecutionProvider here "
            "(install onnxruntime-gpu on a host with an NVIDIA GPU, or use device 'cpu')"
        )
    return [_CUDA, _CPU]


class OnnxModel:
    """One onnxruntime session; ``predict`` is thread-safe (onnxruntime sessions are)."""

    #: In-process compute, no I/O: the batcher may run a small model's lone request on the
    #: event loop (inferd.serving.inline).
    inline_safe: ClassVar[bool] = True

    def __init__(self, session: ort.InferenceSession) -> None:
        self._session: ort.InferenceSession | None = session
        self._outputs = [o.name for o in session.get_outputs()]
        # OIP BYTES arrive as ``bytes``; these inputs are decoded to ``str`` (runtimes._text).
        self.string_inputs = frozenset(
            i.name for i in session.get_inputs() if i.type == "tensor(string)"
        )

    @property
    def providers(self) -> list[str]:
        """The execution providers the session actually uses, in priority order."""
        if self._session is None:
            return []
        return list(self._session.get_providers())

    def predict(self, inputs: Tensors) -> Tensors:
        if self._session is None:
            raise InternalError("the ONNX model was closed")
        # Plain ``run`` rather than ``run_with_ort_values``: measured here on the fraud example
        # at batch 1-64, run took ~4 us and run_with_ort_values ~32 us (OrtValue wrapping).
        if self.string_inputs:
            inputs = {
                name: as_text(name, value) if name in self.string_inputs else value
                for name, value in inputs.items()
            }
        try:
            results = self._session.run(self._outputs, inputs)
        except ort_errors.InvalidArgument as exc:
            # onnxruntime's own text names the input and the dims; drop its "[ONNXRuntimeError]"
            # preamble. It carries no file paths at run time.
            message = str(exc)
            raise InvalidArgument(message.partition(_ORT_PREFIX)[2] or message) from None
        except _RUN_FAILURES as exc:
            if _UNKNOWN_CATEGORY in str(exc):
                raise InvalidArgument(self._unknown_category(str(exc))) from None
            # Its reason reaches the server log (the warm-up's note too), never the client.
            raise InternalError(
                f"onnxruntime failed to run the model: {_ort_reason(str(exc))}"
            ) from exc
        return dict(zip(self._outputs, results, strict=True))

    def _unknown_category(self, message: str) -> str:
        """The client's mistake, named: ai.onnx.ml's OneHotEncoder with ``zeros=0`` (what
        skl2onnx makes of ``handle_unknown='error'``) fails on a category it was not fitted
        on; onnxruntime does not say which input held it."""
        names = sorted(self.string_inputs)
        where = f"input {names[0]!r}" if len(names) == 1 else "a string input"
        status = message.partition("Status Message: ")[2] or _UNKNOWN_CATEGORY
        return (
            f"{where} holds a category the model's OneHotEncoder was not fitted on "
            f"(onnxruntime: {status})"
        )

    def close(self) -> None:
        self._session = None


def open_session(file: Path, options: LoadOptions) -> ort.InferenceSession:
    """An onnxruntime session of ``file`` on ``options.device`` with its thread counts."""
    session_options = ort.SessionOptions()
    session_options.intra_op_num_threads = options.intra_op_threads
    session_options.inter_op_num_threads = options.inter_op_threads
    session_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Without this, onnxruntime logs warnings to stderr for perfectly normal models.
    session_options.log_severity_level = 3
    execution_providers = providers(options.device)
    try:
        return ort.InferenceSession(
            str(file), sess_options=session_options, providers=execution_providers
        )
    except _LOAD_FAILURES as exc:
        # onnxruntime's message names the absolute path: it stays in the chained cause.
        raise InvalidArgument(
            f"onnxruntime cannot load {file.name!r}: {_load_reason(str(exc), file)}"
        ) from exc


def _load_reason(message: str, file: Path) -> str:
    """What onnxruntime says it cannot run (the operator, the opset, the IR version), without
    its preamble, its C++ source locations or the model's directory."""
    reason = _ort_reason(message).replace(str(file.parent) + "/", "")
    return reason or ("an invalid graph, or an operator or opset this onnxruntime does not support")


def _ort_reason(message: str) -> str:
    """onnxruntime's ``message`` without its preamble and C++ source locations (also the one
    after a failed node's "Status Message: "), on one line, cut at :data:`_MAX_REASON`."""
    reason = _ORT_PREAMBLE.sub("", message.strip()).strip()
    head, status, tail = reason.rpartition(_STATUS)
    reason = head + status + _without_location(tail)
    reason = " ".join(reason.split())
    return reason[:_MAX_REASON] + "…" if len(reason) > _MAX_REASON else reason


def _without_location(reason: str) -> str:
    location = _SOURCE_LOCATION.match(reason)
    if location is None:
        return reason
    # Skip the C++ function named after it: up to the space after its parameters,
    # "f(…)::<lambda()> " included.
    reason = reason[location.end() :]
    depth, closed = 0, False
    for i, char in enumerate(reason):
        depth += {"(": 1, ")": -1}.get(char, 0)
        closed = closed or (char == ")" and depth == 0)
        if char == " " and depth == 0 and closed:
            return reason[i:].strip()
    return reason
