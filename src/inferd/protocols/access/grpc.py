"""API keys on gRPC: the ``authorization`` metadata of each call, under the rule of its method
(:mod:`inferd.protocols.access.rules`).

:func:`authorize_call` is the check for any servicer that knows the method and the model a
call names (the gateway's gRPC proxy reads the model from the request bytes);
:func:`guard_handlers` wraps a servicer's unary handlers with it, reading the model from the
decoded request (``model_name`` of ModelInfer, ``name`` of the others). Refusals are
UNAUTHENTICATED, PERMISSION_DENIED, or RESOURCE_EXHAUSTED with a ``retry-after`` trailer.
"""

from __future__ import annotations

from collections.abc import Iterable

import grpc

from inferd.errors import InferdError, InvalidArgument
from inferd.protocols.access.keyring import KeyRing
from inferd.protocols.access.rules import Rule, grpc_rule, need
from inferd.protocols.grpc.status import Context, abort

#: Why a call with two ``authorization`` entries is refused (REST's 400 says the same).
TWICE = "more than one 'authorization' metadata entry; send it once"


def authorization(metadata: Iterable[tuple[str, str | bytes]] | None) -> str | None:
    """The ``authorization`` value of a call's invocation metadata, if any. A call carrying two
    is refused (InvalidArgument): RFC 9110 allows one, and which one counts would depend on
    who reads it (a way to slip a second key past a proxy that checks the first)."""
    found: str | bytes | None = None
    for key, value in metadata or ():
        if key == "authorization":
            if found is not None:
                raise InvalidArgument(TWICE)
            found = value
    return found if not isinstance(found, bytes) else found.decode("latin-1")


async def authorize_call(
    keys: KeyRing, credentials: str | None, method: str, model: str | None
) -> None:
    """Admit or refuse one call of ``method`` (bare name, e.g. ``ModelInfer``) naming ``model``
    (None or empty: none) with ``credentials`` (its ``authorization`` metadata); raises the
    :mod:`inferd.errors` error to answer with."""
    wanted = need(grpc_rule(method), model)
    if wanted is not None:
        await keys.authorize(credentials, wanted)


def guard_handlers(
    handlers: dict[str, grpc.RpcMethodHandler], keys: KeyRing
) -> dict[str, grpc.RpcMethodHandler]:
    """``handlers`` (method name → unary handler) with each call checked first."""
    return {
        method: handler if grpc_rule(method) is Rule.OPEN else _guarded(method, handler, keys)
        for method, handler in handlers.items()
    }


def _guarded(method: str, handler: grpc.RpcMethodHandler, keys: KeyRing) -> grpc.RpcMethodHandler:
    inner = handler.unary_unary

    async def call(request: object, context: Context) -> object:
        try:
            model = getattr(request, "model_name", None) or getattr(request, "name", None)
            credentials = authorization(context.invocation_metadata())
            await authorize_call(keys, credentials, method, model)
        except InferdError as error:
            await abort(context, error)
        return await inner(request, context)

    return grpc.unary_unary_rpc_method_handler(
        call,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )
