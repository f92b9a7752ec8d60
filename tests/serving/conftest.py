"""Serving fixtures: tiny real ONNX models in a real store, served through the real ONNX runtime.

The only double is :class:`Probe`, a thin wrapper around the real onnxruntime model that lets a
test hold a batch at a gate (to make requests queue behind it), see which rows ran, and inject the
faults a misbehaving model has (wrong output length, an exception).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from inferd.card import ModelCard, Signature, TensorSpec
from inferd.config import BatchingSettings, ServerSettings
from inferd.datatypes import Tensors
from inferd.errors import InvalidArgument
from inferd.observe.metrics import ServerMetrics
from inferd.packaging import push
from inferd.runtimes import get_runtime
from inferd.runtimes.base import LoadOptions, Model
from inferd.runtimes.onnx import OnnxRuntime
from inferd.runtimes.warmup import warmup_inputs
from inferd.sandbox.model import SandboxedModel
from inferd.serving.budget import Meter, resident_bytes
from inferd.serving.dataplane import ServingDataPlane
from inferd.serving.deadlines import Waiter
from inferd.serving.manager import ModelManager
from inferd.serving.source import Loaders, StoreSource
from inferd.serving.types import InferRequest, RequestedOutput, Tensor
from inferd.store import ModelStore

FEATURES = 4
SIGNATURE = Signature(
    inputs=(TensorSpec(name="x", datatype="FP32", shape=(-1, FEATURES)),),
    outputs=(
        TensorSpec(name="y", datatype="FP32", shape=(-1, FEATURES)),
        TensorSpec(name="z", datatype="FP32", shape=(-1, FEATURES)),
    ),
)


def scale_onnx(factor: float) -> onnx.ModelProto:
    """y = x * factor and z = x + factor, batch dimension symbolic."""
    const = numpy_helper.from_array(np.array([factor], dtype=np.float32), "k")
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "k"], ["y"]), helper.make_node("Add", ["x", "k"], ["z"])],
        "scale",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", FEATURES])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", FEATURES]),
            helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", FEATURES]),
        ],
        [const],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


@dataclass
class Probe:
    """Shared by every model a test loads: a gate, a log of batch rows, and fault switches.

    Batches of all-zero inputs (the warm-up, or a test that wants to pass) bypass all three.
    """

    gate: threading.Event = field(default_factory=threading.Event)
    entered: threading.Event = field(default_factory=threading.Event)
    rows: list[int] = field(default_factory=list)
    wrong_rows: bool = False
    fail: bool = False
    #: Refuse (InvalidArgument) any batch holding a row that starts with this value.
    refuse: float | None = None
    #: Fail (a plain exception, as a library raises on a value it cannot take) any batch
    #: holding a row that starts with this value.
    choke: float | None = None
    #: Held (cleared), a model's close waits here, after setting ``closing``.
    close_gate: threading.Event = field(default_factory=threading.Event)
    closing: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.gate.set()
        self.close_gate.set()

    def hold(self) -> None:
        """Make the next batches wait at the gate until :meth:`release`."""
        self.entered.clear()
        self.gate.clear()

    def release(self) -> None:
        self.gate.set()
        self.close_gate.set()


class ProbeModel:
    def __init__(self, inner: Model, probe: Probe) -> None:
        self._inner = inner
        self._probe = probe

    def predict(self, inputs: Tensors) -> Tensors:
        if not any(array.any() for array in inputs.values()):
            return self._inner.predict(inputs)  # all zeros (warm-ups): not gated, not logged
        rows = int(next(iter(inputs.values())).shape[0])
        self._probe.rows.append(rows)
        self._probe.entered.set()
        self._probe.gate.wait(timeout=30)
        if self._probe.fail:
            raise RuntimeError("kernel failed reading /srv/secret/model.onnx")
        first = next(iter(inputs.values()))
        if self._probe.refuse is not None and (first[:, 0] == self._probe.refuse).any():
            raise InvalidArgument(f"a row starts with {self._probe.refuse}")
        if self._probe.choke is not None and (first[:, 0] == self._probe.choke).any():
            raise ValueError("Input X contains infinity or a value too large")
        outputs = self._inner.predict(inputs)
        if self._probe.wrong_rows and rows > 1:
            return {name: array[:-1] for name, array in outputs.items()}
        return outputs

    def close(self) -> None:
        self._probe.closing.set()
        self._probe.close_gate.wait(timeout=30)
        self._inner.close()


class ProbeRuntime:
    """The real ONNX runtime, its models wrapped in :class:`ProbeModel`."""

    name: ClassVar[str] = "onnx"

    def __init__(self, probe: Probe) -> None:
        self._probe = probe
        self._onnx = OnnxRuntime()

    def load(self, path: Path, card: ModelCard, options: LoadOptions) -> Model:
        return ProbeModel(self._onnx.load(path, card, options), self._probe)


class SandboxedCodeRuntime:
    """A python runtime that loads, whatever version it is asked for, ``source`` written as
    ``directory/model.py`` (class ``Model``, trusted) into its sandbox worker, keeping each model
    it loads in ``loaded``; a test puts it in a manager's loaders."""

    name: ClassVar[str] = "python"

    def __init__(self, directory: Path, source: str) -> None:
        directory.mkdir()
        (directory / "model.py").write_text(source)
        self.code = directory
        self.loaded: list[SandboxedModel] = []

    def load(self, path: Path, card: ModelCard, options: LoadOptions) -> Model:
        python = ModelCard(name="m", runtime="python", entrypoint="model:Model")
        model = get_runtime("python").load(self.code, python, LoadOptions(trust_code=True))
        assert isinstance(model, SandboxedModel)
        self.loaded.append(model)
        return model


@dataclass
class Harness:
    """A real store with tiny models, and a factory for data planes over it."""

    store: ModelStore
    probe: Probe
    root: Path

    def push(self, ref: str, factor: float = 2.0) -> None:
        folder = self.root / f"src-{ref.replace(':', '-')}-{factor}"
        folder.mkdir(exist_ok=True)
        onnx.save(scale_onnx(factor), folder / "model.onnx")
        push(self.store, folder, ref)

    def push_corrupt(self, ref: str) -> None:
        """A version that fails to load: a well-formed ONNX file (push refuses any other with
        ``runtime: onnx``) using an operator no onnxruntime has."""
        folder = self.root / f"corrupt-{ref.replace(':', '-')}"
        folder.mkdir()
        model = scale_onnx(3.0)
        model.graph.node.append(helper.make_node("Unheard", ["x"], ["u"], domain="inferd.test"))
        model.opset_import.append(helper.make_opsetid("inferd.test", 1))
        onnx.save(model, folder / "model.onnx")
        push(self.store, folder, ref, runtime="onnx", signature=SIGNATURE)

    def size(self, ref: str) -> int:
        return self.store.resolve(ref).size

    def plane(
        self, meter: Meter = resident_bytes, **settings: Any
    ) -> tuple[ServingDataPlane, ModelManager, ServerMetrics]:
        """Build the serving graph; call inside the running event loop."""
        batching = BatchingSettings(**settings.pop("batching", {}))
        server = ServerSettings(batching=batching, **settings)
        metrics = ServerMetrics()
        loaders = Loaders(
            source=StoreSource(self.store),
            runtime=lambda _name: ProbeRuntime(self.probe),
            warmup_inputs=warmup_inputs,
        )
        manager = ModelManager(loaders, server, metrics, meter)
        return ServingDataPlane(manager, metrics, server), manager, metrics


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    probe = Probe()
    yield Harness(ModelStore(tmp_path / "home"), probe, tmp_path)
    probe.release()  # never leave a worker thread parked at the gate


def rows(n: int, start: float = 0.0) -> np.ndarray:
    """``n`` distinct rows of FEATURES floats."""
    return (np.arange(n * FEATURES, dtype=np.float32) + start).reshape(n, FEATURES)


def request(
    model: str = "m",
    x: np.ndarray | None = None,
    *,
    version: str | None = None,
    outputs: list[str] | None = None,
    deadline: float | None = None,
    id: str | None = None,
) -> InferRequest:
    data = rows(1) if x is None else x
    return InferRequest(
        model=model,
        inputs=[Tensor("x", "FP32", data)],
        version=version,
        outputs=None if outputs is None else [RequestedOutput(n) for n in outputs],
        deadline=deadline,
        id=id,
    )


def batch_sizes(plane: ServingDataPlane, model: str = "m") -> dict[int, int]:
    """Batch size → how many batches of that size the model ran (from the statistics API)."""
    stats = plane.model_stats(model)
    return {b.batch_size: b.compute_infer.count for s in stats for b in s.batch_stats}


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """A new event loop, not running: the queue-wait tests give times, no timer runs."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def waiter_at(loop: asyncio.AbstractEventLoop, enqueued: float) -> Waiter:
    """A queued request of one row (``x``, 4 features) enqueued at ``enqueued``, due 30 s later."""
    inputs = {"x": np.zeros((1, 4), np.float32)}
    return Waiter(inputs, 1, loop.create_future(), enqueued, enqueued + 30.0)
