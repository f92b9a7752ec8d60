"""Request bodies sent compressed, as Triton's clients send them (tritonclient's
``request_compression_algorithm``): ``Content-Encoding: gzip`` (or ``x-gzip``) and ``deflate``
(zlib's format, which tritonclient sends, or raw deflate, which some clients send instead).
Any other coding, and stacked ones (``gzip, gzip``), get 415 before the body is read
(:func:`coding`); a body without the header is never looked at here.

A body is inflated with a bound, never at once, so that a decompression bomb (1 MiB of gzip
inflates to 1 GiB) is refused while it inflates and holds no more than one step of output:

1. gzip's trailer declares the inflated size (modulo 2^32). A size deflate could not inflate the
   body to (:data:`MAX_RATIO`) is no trailer but the last bytes of a truncated body: sized as in
   2, to be told so (400), and nothing reserved for it. Past ``max_body_bytes``: 413 at once, as
   for a ``Content-Length`` past it, so an honest bomb costs nothing. Within it, the body is
   inflated into one buffer of that size. zlib checks the trailer itself, so data that inflates
   past it (a lying trailer, several gzip members) is stopped at the buffer's end and sized as
   in 2.
2. A body that declares no size is first inflated in steps of :data:`STEP` bytes that are only
   counted, stopped (413) once the count passes ``max_body_bytes``; then inflated again into one
   buffer of the size counted. A bomb costs the CPU of ``max_body_bytes`` inflated (64 MiB:
   0.1 to 0.7 s of a worker thread) and holds one step.

The buffer is charged to the process's request-body budget (:mod:`.budget`) before it is
allocated (503 when it would not fit), and given back once the handler has answered. Corrupt or
truncated data is 400. A body of :data:`INLINE_BYTES` or less is inflated on the event loop; a
bigger one in a worker thread (:data:`THREADS`; zlib lets go of the GIL while it inflates).
The handler then sees an identity request: no ``content-encoding`` (nor ``transfer-encoding``),
its ``content-length`` the inflated size (what the gateway forwards, as it forwards any body).
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TypeVar

from inferd.protocols.http.body import unfilled
from inferd.protocols.http.budget import RequestBudget
from inferd.protocols.http.messages import Request, Response
from inferd.protocols.http.refusal import Refusal, over_budget

T = TypeVar("T")

#: ``Content-Encoding`` values of a body sent as it is (stripped, lower-case).
IDENTITY = frozenset(("", "identity"))
#: The codings inflated, and the zlib window bits of their format.
CODINGS = {"gzip": 31, "x-gzip": 31, "deflate": 15}
#: What a 415 says is accepted.
ACCEPTED = "gzip, x-gzip or deflate (one coding), or none"
#: Inflated bytes taken at a time: what a bomb holds at most while it is counted.
STEP = 256 * 1024
#: The most deflate inflates: 258 bytes for a code of 2 bits at best.
MAX_RATIO = 1032
#: Compressed bytes fed to zlib at a time (what it keeps of the input it has not used).
FEED = 64 * 1024
#: Bodies up to this many compressed bytes are inflated on the event loop (deflate inflates
#: at most about 1,000 times over: a millisecond or two); bigger ones in a worker thread.
INLINE_BYTES = 2 * 1024
#: Worker threads that inflate at once, per process; further bodies wait their turn. One, as
#: for decoding (:mod:`inferd.protocols.offload`): 50 deflate bombs at once on 2 cores, health
#: checks p50/p99 6/27 ms with one, 10/64 ms with two, the bombs answered no later.
THREADS = 1

_threads = ThreadPoolExecutor(THREADS, thread_name_prefix="inferd-inflate")


def coding(value: str) -> str:
    """The coding a request's ``Content-Encoding`` names (``""``: none); 415 for one that is
    not inflated."""
    name = value.strip().lower()
    if name in IDENTITY:
        return ""
    if name not in CODINGS:
        raise Refusal(
            415,
            f"request bodies with Content-Encoding {value[:40]!r} are not accepted; send "
            f"{ACCEPTED}",
        )
    return name


async def dispatch(
    request: Request, budget: RequestBudget, limit: int, handle: Callable[[Request], Awaitable[T]]
) -> T | Response:
    """``handle(request)`` with its body inflated (see the module doc) and charged to ``budget``
    until it returns; the refusal's answer instead when the body cannot be inflated within
    ``limit`` bytes or the budget."""
    name = coding(request.headers.pop("content-encoding"))
    body, charged = request.body, [0]
    try:
        if name and body:
            try:
                request.body = body = await inflate(body, name, budget, limit, charged)
            except Refusal as refusal:
                return refusal.answer(request.path.encode("latin-1"))
            request.headers.pop("transfer-encoding", None)  # the chunks are gone too
            request.headers["content-length"] = str(len(body))
        return await handle(request)
    finally:
        budget.give_back(charged[0])


async def inflate(
    body: bytes | bytearray, name: str, budget: RequestBudget, limit: int, charged: list[int]
) -> bytearray:
    """``body`` inflated; what it holds of ``budget`` is kept in ``charged[0]`` (also gRPC's
    compressed messages, :mod:`inferd.protocols.grpc.inflated`)."""
    wbits = _window(name, body)
    inline = len(body) <= INLINE_BYTES
    declared = _declared(body, wbits, limit)
    if declared is not None:
        charged[0] = _charge(budget, declared)
        inflated = await _run(inline, partial(_fill, body, wbits, declared))
        if inflated is not None:
            return inflated
        budget.give_back(charged[0])
        charged[0] = 0
    size = await _run(inline, partial(_count, body, wbits, limit, name))
    charged[0] = _charge(budget, size)
    inflated = await _run(inline, partial(_fill, body, wbits, size))
    if inflated is None:  # it inflated to another size the second time: never
        raise Refusal(400, f"the {name} request body inflates inconsistently")
    return inflated


async def _run(inline: bool, work: Callable[[], T]) -> T:
    if inline:
        return work()
    return await asyncio.get_running_loop().run_in_executor(_threads, work)


def _charge(budget: RequestBudget, size: int) -> int:
    if not budget.take(size):
        raise over_budget(budget)
    return size


def _window(name: str, data: bytes | bytearray) -> int:
    """zlib's window bits for ``data`` coded ``name``: ``deflate`` is zlib's format (RFC 1950,
    what tritonclient sends) when it starts with a zlib header, else raw deflate (RFC 1951)."""
    wbits = CODINGS[name]
    if wbits == 15 and not (
        len(data) >= 2
        and data[0] & 0x0F == 8
        and data[0] >> 4 <= 7
        and (data[0] << 8 | data[1]) % 31 == 0
    ):
        return -15
    return wbits


def _declared(data: bytes | bytearray, wbits: int, limit: int) -> int | None:
    """The inflated size a gzip body's trailer declares (None: not gzip, or a size deflate could
    not inflate ``data`` to, :data:`MAX_RATIO`: no trailer but a truncated body's last bytes,
    to be counted); 413 at once past ``limit``."""
    if wbits != 31 or len(data) < 18:  # a header and a trailer: 18 bytes at the least
        return None
    size = int.from_bytes(data[-4:], "little")
    if size > MAX_RATIO * len(data):
        return None
    if size > limit:
        raise too_large(limit, f"its gzip trailer declares {size} bytes")
    return size


def too_large(limit: int, why: str) -> Refusal:
    return Refusal(
        413,
        f"request body exceeds the limit of {limit} bytes once inflated "
        f"(limits.max_body_bytes counts the inflated size): {why}",
    )


def _pieces(data: bytes | bytearray, wbits: int) -> Iterator[bytes]:
    """``data`` inflated, in pieces of at most :data:`STEP` bytes; 400 for data that is not of
    its format, or ends before it does. gzip members may follow one another (RFC 1952 2.2)."""
    view, at, ended = memoryview(data), 0, False
    inflater = zlib.decompressobj(wbits)
    name = "gzip" if wbits == 31 else "deflate"
    try:
        while at < len(view):
            feed: bytes | memoryview = view[at : at + FEED]
            at += len(feed)
            ended = False
            while True:
                piece = inflater.decompress(feed, STEP)
                if piece:
                    yield piece
                if inflater.eof:
                    at -= len(inflater.unused_data)
                    if at < len(view) and wbits != 31:
                        raise Refusal(400, f"the {name} request body has data after its end")
                    inflater, ended = zlib.decompressobj(wbits), True
                    break
                feed = inflater.unconsumed_tail
                if not feed and len(piece) < STEP:
                    break
    except zlib.error as exc:
        raise Refusal(400, f"the request body is not valid {name} data: {exc}") from None
    if not ended:
        raise Refusal(400, f"the {name} request body is truncated: it ends before its data does")


def _count(data: bytes | bytearray, wbits: int, limit: int, name: str) -> int:
    """The inflated size of ``data``, counted a step at a time and kept nowhere; 413 as soon as
    it passes ``limit``."""
    size = 0
    for piece in _pieces(data, wbits):
        size += len(piece)
        if size > limit:
            raise too_large(limit, f"the {name} data inflates past it")
    return size


def _fill(data: bytes | bytearray, wbits: int, size: int) -> bytearray | None:
    """``data`` inflated into one buffer of ``size`` bytes; None when it inflates to another
    size (stopped one step past the buffer's end)."""
    buffer = unfilled(size)
    at = 0
    for piece in _pieces(data, wbits):
        end = at + len(piece)
        if end > size:
            return None
        buffer[at:end] = piece
        at = end
    return buffer if at == size else None
