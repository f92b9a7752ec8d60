"""gRPC messages compressed by their client (grpc's per-message compression: tritonclient.grpc's
``infer(..., compression_algorithm="gzip")`` or ``"deflate"``), inflated by inferd as its HTTP
server inflates a compressed body (:mod:`inferd.protocols.http.inflating`), not by grpc-core.

grpc-core inflates a message whole, up to the listener's largest message, before it refuses
it: 50 gzip messages of 256 KiB that inflate to 256 MiB each, at once, raised the server's
RSS by hundreds of MiB. The model server's data-plane listener therefore turns grpc-core's
inflation off (``grpc.per_message_decompression``); a handler built by
:func:`~.status.unary` with an :class:`Inflater` is then handed a compressed message's bytes as
they came, which :func:`compressed` tells from a request message by their first bytes (grpc
sends no other sign: the ``grpc-encoding`` of a call is not in its metadata):

* gzip starts ``1f 8b``, which no protobuf message can (field 3 with wire type 7);
* deflate, zlib's format as grpc sends it, starts ``78`` and a check byte: field 15 as a
  varint, which none of the service's requests has (their fields stop at 7).

Such a message is inflated with :mod:`.inflating`'s bound (``limits.max_body_bytes`` counted
on the inflated bytes, RESOURCE_EXHAUSTED while it inflates past it, holding one step), into
one buffer charged to a request-body budget until the RPC is answered (RESOURCE_EXHAUSTED
naming ``limits.max_buffered_request_bytes`` when it would not fit), off the event loop past a
few KiB; corrupt or truncated data is INVALID_ARGUMENT.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from inferd.errors import InferdError, InvalidArgument, PayloadTooLarge, RateLimited
from inferd.protocols.http import inflating
from inferd.protocols.http.budget import RequestBudget
from inferd.protocols.http.refusal import Refusal


@dataclass(frozen=True, slots=True)
class Compressed:
    """A request message's bytes as its client compressed them, in ``coding``."""

    data: bytes
    coding: str


def compressed(data: bytes) -> Compressed | None:
    """``data`` as a compressed message (see the module doc); None for a request message."""
    if data[:2] == b"\x1f\x8b":
        return Compressed(data, "gzip")
    if len(data) >= 2 and data[0] == 0x78 and (data[0] << 8 | data[1]) % 31 == 0:
        return Compressed(data, "deflate")
    return None


class Inflater:
    """Inflates compressed messages within ``limit`` bytes each and ``budget`` in all."""

    __slots__ = ("budget", "limit")

    def __init__(self, limit: int, budget: RequestBudget) -> None:
        self.limit = limit
        self.budget = budget

    @asynccontextmanager
    async def inflated(self, message: Compressed) -> AsyncIterator[bytearray]:
        """``message`` inflated, held against the budget until the block is left (the RPC is
        answered); a refusal raised as an :class:`~inferd.errors.InferdError`. The block holds
        the only reference to the bytes, which it may let go of sooner (``del``)."""
        charged = [0]
        try:
            yield await self._inflate(message, charged)
        finally:
            self.budget.give_back(charged[0])

    async def _inflate(self, message: Compressed, charged: list[int]) -> bytearray:
        try:
            return await inflating.inflate(
                message.data, message.coding, self.budget, self.limit, charged
            )
        except Refusal as refusal:
            raise _error(refusal) from None


def _error(refusal: Refusal) -> InferdError:
    message = refusal.message.replace("request body", "request message")
    if refusal.status == 413:
        return PayloadTooLarge(message)
    if refusal.status == 503:  # the budget is spent: RESOURCE_EXHAUSTED, with a retry hint
        return RateLimited(message)
    return InvalidArgument(message)
