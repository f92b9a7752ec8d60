"""Triton's shared-memory extension's own API (system and CUDA shared memory: status, register,
unregister), refused over REST (501) and gRPC (UNIMPLEMENTED) with the same words, rather than
with a bare "no route" 404 or gRPC's "Method not found!". Tensors placed in shared memory by an
inference request's parameters are refused where the request is decoded
(:func:`~inferd.protocols.tensor_wire.refuse_shared_memory`)."""

from __future__ import annotations

from inferd.errors import Unsupported
from inferd.protocols.http.messages import Request, Response

#: Why every call of the extension is refused.
REFUSAL = (
    "Triton's shared-memory extension (system and CUDA shared memory) is not supported: "
    "inferd serve reads tensors only from the request; send their data in it (JSON, or binary "
    "tensor data over REST)"
)

#: The extension's REST routes (method, path), for system and CUDA shared memory alike.
PATHS = tuple(
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

#: The extension's gRPC methods of ``inference.GRPCInferenceService``.
METHODS = tuple(
    f"{kind}SharedMemory{call}"
    for kind in ("System", "Cuda")
    for call in ("Status", "Register", "Unregister")
)


async def refuse(request: Request) -> Response:
    """A REST call of the extension: 501 saying it is not supported."""
    raise Unsupported(REFUSAL)
