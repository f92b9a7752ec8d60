"""What the connection works out from a request while reading it: whether its bytes parse,
whether its head admits a body at all, its target, and the peer it came from. A refusal is
raised (or, from :func:`parse`, returned) as :class:`~.refusal.Refusal` and answered by the
connection."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any

import httptools

from inferd.protocols.http import inflating
from inferd.protocols.http.body import BodyReader
from inferd.protocols.http.budget import RequestBudget
from inferd.protocols.http.host import ConnectionHost
from inferd.protocols.http.messages import Request
from inferd.protocols.http.refusal import Refusal, body_too_large, over_budget

#: The interim answer to a request that waits for it (``Expect: 100-continue``).
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
log = logging.getLogger(__name__)


def parse(
    parser: httptools.HttpRequestParser,
    data: memoryview | bytes,
    fresh: Callable[[], tuple[httptools.HttpRequestParser, bytes]],
) -> Refusal | None:
    """Feed ``data`` to ``parser`` (whose callbacks may raise :class:`Refusal`): what to answer
    when the bytes are not an acceptable request, else None.

    An ``Upgrade`` (``curl --http2``'s h2c, a WebSocket handshake) is ignored, as RFC 9110 7.8
    lets a server, and the request answered in HTTP/1.1: the parser stops at its head, so what
    follows goes to a ``fresh`` parser (the connection's from then on), fed first what it
    returns (the head again, without the Upgrade, when a body follows: :func:`replayed`).
    CONNECT (a tunnel) is refused."""
    while True:
        try:
            parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, Refusal):
                return cause
            log.exception("HTTP request handling failed")
            return Refusal(500, "internal error")
        except httptools.HttpParserUpgrade as exc:
            if parser.get_method() == b"CONNECT":
                return Refusal(400, "method CONNECT is not supported: this is no proxy")
            parser, head = fresh()
            rest = data[int(exc.args[0]) :]
            data = head + bytes(rest) if head else rest
            continue
        except httptools.HttpParserError as exc:
            if "PRI" in str(exc):  # HTTP/2's connection preface ("Pause on PRI/Upgrade")
                refusal = "this port speaks HTTP/1.1, not HTTP/2 (gRPC has its own port)"
                return Refusal(505, refusal)
            return Refusal(400, f"malformed HTTP request: {exc}")
        return None


def admit_headers(
    headers: dict[str, str], max_body_bytes: int, budget: RequestBudget
) -> int | None:
    """Refuse, once a request's headers are complete, a body that could never be accepted: one
    declared over ``max_body_bytes`` (413) or over what the budget has left now (503; not a
    reservation, since the body is charged as it arrives, but it spares reading a body that
    cannot fit), or one coded as no client may send it (415: :func:`.inflating.coding`; the
    server inflates the rest, :mod:`.inflating`). Returns the declared size of a body framed by
    ``Content-Length`` alone, else None."""
    declared = headers.get("content-length")
    size: int | None = None
    if declared is not None and declared.isdigit():
        size = int(declared)
        if size > max_body_bytes:
            raise body_too_large(max_body_bytes)
        if budget.used + size > budget.limit:
            raise over_budget(budget)
        if "transfer-encoding" in headers:
            size = None
    encoding = headers.get("content-encoding")
    if encoding is not None:
        inflating.coding(encoding)
    return size


def require_host(parser: httptools.HttpRequestParser, headers: Mapping[str, str]) -> None:
    """Refuse an HTTP/1.1 request without ``Host`` (RFC 9112 3.2: a server MUST answer 400, as
    nginx does); HTTP/1.0 had no such field."""
    if "host" not in headers and parser.get_http_version() != "1.0":
        raise Refusal(400, "an HTTP/1.1 request needs a Host header (RFC 9112 3.2)")


#: Fields of an Upgrade that is ignored, left out of its head read again (:func:`replayed`).
_UPGRADE_FIELDS = frozenset(("connection", "upgrade", "http2-settings", "expect"))


def replayed(parser: httptools.HttpRequestParser, url: bytes, headers: Mapping[str, str]) -> bytes:
    """The head of a request that asks to switch protocols (``Upgrade``, named in
    ``Connection``: ``curl --http2 -d``) and has a body, without the Upgrade; else ``b""``.
    The parser takes the switch at the head and reads no body (the rest would be another
    protocol): the head is read again, by a fresh parser, so the body is read as HTTP/1.1."""
    if "upgrade" not in headers:
        return b""
    tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    if "upgrade" not in tokens or not (
        "transfer-encoding" in headers or headers.get("content-length", "0") != "0"
    ):
        return b""
    lines = [f"{k}: {v}" for k, v in headers.items() if k not in _UPGRADE_FIELDS]
    lines += [f"connection: {t}" for t in ("close", "keep-alive") if t in tokens]
    method, version = parser.get_method(), parser.get_http_version()
    head = "\r\n".join((f" HTTP/{version}", *lines, "", "")).encode("latin-1")
    return method + b" " + url + head


#: Request fields that may appear once (RFC 9110 11.6.2, 8.3, RFC 9112 3.2): which of two counts
#: would depend on who reads them, a way to slip a second key or host past a proxy's check; two
#: media types joined would name none (a client sending its default and then its own).
SINGLE = frozenset(("authorization", "host", "content-type"))


def repeated_header(key: str, value: str, headers: Mapping[str, str], max_headers: int) -> str:
    """The value to keep of a request field ``key`` (``value``) that arrives after ``headers``
    (asked only when it repeats one, or there are ``max_headers`` already): a repeat is the
    values so far and this one joined with ", " (RFC 9110 5.3: ``Transfer-Encoding: gzip`` then
    ``chunked`` is ``gzip, chunked``, not ``chunked``); a second one of :data:`SINGLE` is
    refused 400, a field past ``max_headers`` 431 (:class:`Refusal`)."""
    if key in headers:
        if key in SINGLE:
            raise Refusal(400, f"more than one {key!r} header; send it once")
        return f"{headers[key]}, {value}"
    raise Refusal(431, f"more than {max_headers} request headers")


def chunked_body(headers: Mapping[str, str]) -> BodyReader:
    """The reader of a body framed by ``Transfer-Encoding``, which must be ``chunked`` alone:
    the parser takes off the chunking only, so a body also coded otherwise (``gzip,
    chunked``) would be read still coded; it is refused 501 (RFC 9112 6.1). A compressed body
    says so with ``Content-Encoding`` instead (:mod:`.inflating`)."""
    coding = headers.get("transfer-encoding", "")
    if coding.strip().lower() != "chunked":
        raise Refusal(
            501,
            f"request bodies with Transfer-Encoding {coding[:40]!r} are not accepted; send "
            "the body chunked or with a Content-Length (compressed: Content-Encoding gzip)",
        )
    return BodyReader()


@functools.lru_cache(maxsize=1024)
def request_target(url: bytes, method: str = "") -> tuple[str, str]:
    """The path and query (``""`` when none) of a request target; 400 for an invalid one (a
    ``method`` CONNECT's ``host:port``: a tunnel, which this server does not open). Cached:
    clients send few distinct targets, and a screen reads it before the request does."""
    try:
        parsed = httptools.parse_url(url)
    except httptools.HttpParserInvalidURLError:
        if method == "CONNECT":
            raise Refusal(400, "method CONNECT is not supported: this is no proxy") from None
        raise Refusal(400, "invalid request target") from None
    query = parsed.query.decode("latin-1") if parsed.query else ""
    return parsed.path.decode("latin-1"), query


def peer_address(name: object) -> str:
    """``("127.0.0.1", 51234)`` → ``127.0.0.1:51234``; a Unix socket or nothing → ``""``."""
    if isinstance(name, tuple) and len(name) >= 2:
        return f"{name[0]}:{name[1]}"
    return ""


def screened(
    host: ConnectionHost[Any],
    parser: httptools.HttpRequestParser,
    url: bytes,
    headers: dict[str, str],
    peer: str,
) -> None:
    """Raise the :class:`Refusal` of a request that the ``host``'s screen or guard refuses by
    its head (``parser`` has just read it, with the target ``url``, from ``peer``)."""
    method = parser.get_method().decode("ascii")
    path, query = request_target(url, method)
    response = host.screen(method, path, headers) if host.screen is not None else None
    if response is None and host.guard is not None:
        response = host.guard(Request(method, path, query, headers, b"", peer=peer))
    if response is not None:
        raise Refusal(response.status, "refused by its head", response=response)


def continues(
    host: ConnectionHost[Any],
    parser: httptools.HttpRequestParser,
    url: bytes,
    headers: dict[str, str],
    peer: str,
) -> bool:
    """Whether the request whose head ``parser`` has just read is to be sent ``100 Continue``:
    it asks for it (``Expect: 100-continue``, never in HTTP/1.0: RFC 9110 10.1.1) and its head
    does not decide its answer. curl sends Expect for large bodies and waits for this answer:
    a request refused whatever its body (:meth:`ConnectionHost.judge_head`: no route, a method
    not allowed, an unknown model, a media type not spoken) raises that :class:`Refusal`
    instead, so the client never uploads a body only to be refused."""
    if headers.get("expect", "").lower() != "100-continue" or parser.get_http_version() == "1.0":
        return False
    method = parser.get_method().decode("ascii")
    path, query = request_target(url, method)
    response = host.judge_head(Request(method, path, query, headers, b"", peer=peer))
    if response is not None:
        raise Refusal(response.status, "refused by its head", response=response)
    return True
