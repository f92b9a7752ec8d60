"""Answers compressed for clients that ask (``Accept-Encoding``), as Triton answers them:
tritonclient.http's ``response_compression_algorithm="gzip"`` or ``"deflate"``, and every
client that sends ``Accept-Encoding: gzip, deflate`` by default (requests, httpx, browsers).

A complete answer (not a stream, not a HEAD answer) of :data:`MIN_BYTES` or more is compressed
in the coding the client accepts best (its q-values; ``gzip`` before ``deflate`` on a tie;
``x-gzip`` is ``gzip``), and sent with ``Content-Encoding`` and ``Vary: Accept-Encoding``.
``deflate`` is zlib's format (RFC 9110 8.4.1.2), which tritonclient inflates with
``zlib.decompress``. A smaller answer is sent as it is, unless the client refused
``identity`` (``identity;q=0``, or ``*;q=0`` without ``identity``); an answer that would not
shrink is sent as it is; a client that accepts none of the two codings is answered identity
(RFC 9110 12.5.3). The whole body is compressed, so the binary tensor extension's
``Inference-Header-Content-Length`` still counts the JSON header's bytes before compression:
what Triton sends and tritonclient reads once it has inflated the body.

Level 1 (nginx's default): JSON tensors shrink to about half at 50 MB/s on one core; level 6
saves 7 % more at 8 MB/s. Bodies up to :data:`INLINE_BYTES` are compressed on the event loop
(16 KiB: about 0.25 ms); bigger ones in a worker thread (zlib lets go of the GIL), one per
process, as :mod:`.inflating` inflates. A request without ``Accept-Encoding`` costs one
dictionary lookup.
"""

from __future__ import annotations

import asyncio
import zlib
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache, partial

from inferd.protocols.http.messages import Response

#: Answers smaller than this are sent as they are (unless the client refuses identity): at
#: 1 KiB a JSON answer shrinks by about 45 %, and below it a few hundred bytes are not worth
#: a compressor's setup.
MIN_BYTES = 1024
#: Answers up to this many bytes are compressed on the event loop; bigger ones in a thread.
INLINE_BYTES = 16 * 1024
#: zlib's compression level.
LEVEL = 1
#: The codings answered, by the name a client may give them, and zlib's window bits.
CODINGS = {"gzip": ("gzip", 31), "x-gzip": ("gzip", 31), "deflate": ("deflate", 15)}
VARY = (b"vary", b"accept-encoding")

_threads = ThreadPoolExecutor(1, thread_name_prefix="inferd-deflate")


@lru_cache(maxsize=256)
def preferred(accept: str) -> tuple[str, bool]:
    """What ``accept`` (an ``Accept-Encoding`` value) asks for: the coding to answer in
    (``""``: none of ours is acceptable), and whether identity is refused."""
    weights: dict[str, float] = {}
    for item in accept.lower().split(","):
        name, _, params = item.partition(";")
        name, q = name.strip(), 1.0
        if not name:
            continue
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0  # a weight that cannot be read is not an acceptance
        name = "gzip" if name == "x-gzip" else name
        weights[name] = max(q, weights.get(name, q))
    star = weights.get("*")
    best, best_q = "", 0.0
    for name in ("gzip", "deflate"):
        q = weights.get(name, star if star is not None else 0.0)
        if q > best_q:
            best, best_q = name, q
    identity = weights.get("identity", star if star is not None else 1.0)
    return best, identity <= 0.0


async def compressed(response: Response, accept: str) -> Response:
    """``response`` in the coding ``accept`` asks for (see the module doc)."""
    if type(response) is not Response:  # a stream, or a HEAD answer: sent as it is
        return response
    body = response.body
    coding, identity_refused = preferred(accept)
    if not coding or (len(body) < MIN_BYTES and not identity_refused):
        return response
    if any(name == b"content-encoding" for name, _ in response.headers):
        return response  # coded already (a relayed answer)
    name, wbits = CODINGS[coding]
    if len(body) <= INLINE_BYTES:
        data = _compress(body, wbits)
    else:
        loop = asyncio.get_running_loop()
        data = await loop.run_in_executor(_threads, partial(_compress, body, wbits))
    # A new answer: a handler may hand out one it keeps (its headers must stay as they are).
    headers = list(response.headers)
    if not any(n == b"vary" for n, _ in headers):
        headers.append(VARY)
    if len(data) >= len(body) and not identity_refused:
        return Response(response.status, body, response.content_type, headers)
    headers.append((b"content-encoding", name.encode()))
    return Response(response.status, data, response.content_type, headers)


def _compress(data: bytes, wbits: int) -> bytes:
    compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, wbits)
    return compressor.compress(data) + compressor.flush()
