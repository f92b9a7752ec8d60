"""Transport-neutral request and response objects, and the data-plane contract.

Protocol adapters (REST, gRPC, KServe v1) decode their wire format into an :class:`InferRequest`
and encode an :class:`InferResponse`; they never talk to models directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from inferd.card import TensorSpec
from inferd.datatypes import Array
from inferd.serving.stats import ModelStatistics, VersionState
from inferd.serving.timings import RequestTimings

if TYPE_CHECKING:
    from inferd.serving.generation import ServedGenerator

#: Request, tensor and response parameters as the wire carried them (the protocol allows
#: strings, numbers and booleans; whoever reads one checks its type).
Parameters = dict[str, object]


@dataclass(slots=True)
class Tensor:
    """A named tensor. ``data`` already has ``shape``; BYTES tensors are object arrays of bytes."""

    name: str
    datatype: str
    data: Array
    parameters: Parameters = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.data.shape)


@dataclass(slots=True)
class RequestedOutput:
    name: str
    parameters: Parameters = field(default_factory=dict)


@dataclass(slots=True)
class InferRequest:
    model: str
    inputs: list[Tensor]
    version: str | None = None
    id: str | None = None
    parameters: Parameters = field(default_factory=dict)
    #: None means "every output the model has".
    outputs: list[RequestedOutput] | None = None
    #: Absolute deadline on ``time.monotonic()``; None means the server default.
    deadline: float | None = None
    #: Set by a transport that traces this request: the batcher records its queue wait and
    #: batch in it. None (untraced) costs nothing.
    timings: RequestTimings | None = None


@dataclass(slots=True)
class InferResponse:
    model_name: str
    model_version: str | None
    outputs: list[Tensor]
    id: str | None = None
    parameters: Parameters = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """Server metadata: the server's name, its version and the protocol extensions it supports."""

    name: str
    version: str
    extensions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """Model metadata: one model as a client sees it (``-1`` marks a variable dimension).

    ``platform`` is ``<project>_<format>`` (e.g. ``onnx_onnxv1``); ``versions`` are the versions
    of the model that the server holds.
    """

    name: str
    versions: tuple[str, ...]
    platform: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]


@dataclass(frozen=True, slots=True)
class RepositoryEntry:
    """One row of the repository index: a version, or a load attempt, and why it is in its
    state (empty when there is nothing to say)."""

    name: str
    version: str
    state: VersionState
    reason: str = ""


class InputCheck(Protocol):
    """What a model takes, checked against each input's header (name, datatype, shape) before
    the transport decodes the input's data; raises InvalidTensor naming the mismatch.

    Any thread may call it: transports decode big bodies off the event loop.
    """

    def declared(self, name: str, datatype: str, shape: tuple[int, ...]) -> None: ...


@dataclass(frozen=True, slots=True)
class ListedVersion:
    """A version of a listed language model: where it was served from and, an adapter, the base
    it applies to (what vLLM's ``/v1/models`` tells a LoRA module from its base model by)."""

    version: str
    #: The store reference it was served from (``chat:a2``, ``host/team/llm:a1``): vLLM's
    #: ``root``, the path a base model or LoRA module was loaded from.
    reference: str
    #: Its manifest digest, which an adapter's ``base`` pins.
    digest: str
    #: An adapter's base as its card pins it (``llm@sha256:…``); None for a model that is no
    #: adapter.
    base: str | None = None
    #: The context a sequence may take, prompt plus generated tokens (vLLM's ``max_model_len``);
    #: None while the version is not loaded (evicted).
    max_model_len: int | None = None


@dataclass(frozen=True, slots=True)
class ListedModel:
    """A language model as OpenAI's ``/v1/models`` lists it."""

    model: str
    #: When the version's card was created or the model loaded (OpenAI's ``created``).
    created: int
    #: Its versions that answer (READY, or evicted by the memory budget), its default first;
    #: empty where the data plane does not tell them.
    versions: tuple[ListedVersion, ...] = ()


class DataPlane(Protocol):
    """The one entry every protocol calls. Errors are :mod:`inferd.errors` exceptions."""

    def live(self) -> bool: ...

    def ready(self) -> bool: ...

    def model_ready(self, name: str, version: str | None = None) -> bool: ...

    def server_metadata(self) -> ServerInfo: ...

    def model_metadata(self, name: str, version: str | None = None) -> ModelInfo:
        """Raises ModelNotFound for an unknown model or version."""
        ...

    def input_check(self, name: str, version: str | None = None) -> InputCheck | None:
        """The check a request's headers can meet before decoding. Raises ModelNotFound for
        an unknown model or version (before its body is decoded); None when there is no check
        yet (a version not loaded): :meth:`infer` then reports the problem."""
        ...

    async def infer(self, request: InferRequest) -> InferResponse: ...

    def refused(self, name: str, version: str | None = None) -> None:
        """Count a request to ``name`` that a protocol refused before :meth:`infer` (its body
        did not decode, or broke the signature), as :meth:`infer` counts a client error."""
        ...

    def repository_index(self, ready_only: bool = False) -> list[RepositoryEntry]: ...

    async def load(self, name: str, reference: str | None = None) -> None:
        """Load (or reload) a model; ``reference`` is a store reference, default: the one it was
        served from. A new version warms up before it takes traffic; a failed load keeps the old."""
        ...

    async def unload(self, name: str) -> None: ...

    async def generator(self, name: str, version: str | None = None) -> ServedGenerator:
        """The language model served as ``name``, loaded if need be; NotFound for an unknown
        name, InvalidArgument for a model that is not a language model."""
        ...

    def generators(self) -> list[ListedModel]:
        """Every language model a request may name (its default version): ready, or evicted by
        the memory budget (a request loads it again)."""
        ...

    def model_stats(
        self, name: str | None = None, version: str | None = None
    ) -> list[ModelStatistics]:
        """Every loaded version's statistics, one model's, or one version's; raises
        ModelNotFound for an unknown model or version."""
        ...
