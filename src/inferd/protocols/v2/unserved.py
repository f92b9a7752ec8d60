"""Triton extensions whose own API inferd does not serve — system and CUDA shared memory
(status, register, unregister), trace settings and log settings — refused over REST (501) and
gRPC (UNIMPLEMENTED) with the same words naming the extension, rather than with a bare "no
route" 404, a 404 about a model named ``fraud/trace/setting``, or gRPC's "Method not found!".
Tensors placed in shared memory by an inference request's parameters are refused where the
request is decoded (:func:`~inferd.protocols.tensor_wire.refuse_shared_memory`)."""

from __future__ import annotations

from dataclasses import dataclass

from inferd.errors import Unsupported
from inferd.protocols.http.messages import Request, Response
from inferd.protocols.http.router import Handler


@dataclass(frozen=True)
class Extension:
    """One unserved extension: its REST routes (method, path), its gRPC methods of
    ``inference.GRPCInferenceService``, and why each call of it is refused."""

    paths: tuple[tuple[str, str], ...]
    methods: tuple[str, ...]
    refusal: str

    def handler(self) -> Handler:
        async def refuse(request: Request) -> Response:
            raise Unsupported(self.refusal)

        return refuse


def _shared_memory_paths() -> tuple[tuple[str, str], ...]:
    return tuple(
        (method, f"/v2/{kind}sharedmemory{path}")
        for kind in ("system", "cuda")
        for method, path in (
            ("GET", "/status"),
            ("GET", "/region/{region}/status"),
            ("POST", "/region/{region}/register"),
            ("POST", "/unregister"),
            ("POST", "/region/{region}/unregister"),
        )
    )


SHARED_MEMORY = Extension(
    _shared_memory_paths(),
    tuple(
        f"{kind}SharedMemory{call}"
        for kind in ("System", "Cuda")
        for call in ("Status", "Register", "Unregister")
    ),
    "Triton's shared-memory extension (system and CUDA shared memory) is not supported: "
    "inferd serve reads tensors only from the request; send their data in it (JSON, or binary "
    "tensor data over REST)",
)
TRACE = Extension(
    tuple(
        (method, path)
        for path in ("/v2/trace/setting", "/v2/models/{model}/trace/setting")
        for method in ("GET", "POST")
    ),
    ("TraceSetting",),
    "Triton's trace extension (trace settings) is not supported: inferd serve exports "
    "OpenTelemetry traces as its settings say when it starts (tracing: {endpoint, sample_rate})",
)
LOGGING = Extension(
    (("GET", "/v2/logging"), ("POST", "/v2/logging")),
    ("LogSettings",),
    "Triton's logging extension (log settings) is not supported: inferd serve's logging is set "
    "when it starts",
)
#: Every unserved extension.
EXTENSIONS = (SHARED_MEMORY, TRACE, LOGGING)
