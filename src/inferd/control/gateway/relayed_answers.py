"""What the OpenAI relay reads and changes in a replica's answer as it passes: the ``model`` it
names, which becomes the name the client asked for (as vLLM's ``--served-model-name`` and OpenAI
answer); an error answer in another shape than OpenAI's, put in it; and the error event that
ends a stream whose generation failed after its 200, with the status that error stands for.

The ``model`` member is found in the bytes, not by parsing the answer: an embeddings answer may
be megabytes of numbers, and a stream's events are renamed as they pass. A quote that opens a
key follows ``{`` or ``,`` (and white space); one inside a string is escaped. So the ``"model"``
after one of those, then a colon, is a member, and its value a string up to its unescaped quote.
"""

from __future__ import annotations

import contextlib
import re

import orjson

from inferd.errors import Code
from inferd.protocols.http.messages import STATUS_BY_CODE, openai_type

#: What follows a ``"model"`` key: the colon, and the value (group 1), a JSON string.
_VALUE = re.compile(rb'[ \t\r\n]*:[ \t\r\n]*("(?:[^"\\]|\\.)*")', re.S)
_KEY = b'"model"'
_SPACE = b" \t\r\n"


#: How far into a whole answer its ``model`` is looked for before looking from its end: engines
#: write it before the data (vLLM, OpenAI) or after it (inferd, llama-server's embeddings).
_HEAD = 1024


def _value(data: bytes, at: int) -> tuple[int, int] | None:
    """Where the value of the ``"model"`` at ``at`` is, when it is a member's key."""
    before = at - 1
    while before >= 0 and data[before] in _SPACE:
        before -= 1
    value = _VALUE.match(data, at + len(_KEY))
    if before < 0 or data[before] not in b"{," or value is None:
        return None
    return value.span(1)


def _model(document: bytes) -> tuple[int, int] | None:
    """Where the value of ``document``'s ``model`` member is: near its start, or else the last
    one (the answers relayed hold no other), without reading the bytes between."""
    at = document.find(_KEY, 0, _HEAD)
    while at >= 0:
        if (span := _value(document, at)) is not None:
            return span
        at = document.find(_KEY, at + 1, _HEAD)
    at = document.rfind(_KEY)
    while at >= 0:
        if (span := _value(document, at)) is not None:
            return span
        at = document.rfind(_KEY, 0, at)
    return None


def renamed(document: bytes, model: str) -> bytes:
    """A replica's whole JSON answer with its ``model`` naming ``model`` (copied once)."""
    span = _model(document)
    if span is None:
        return document
    whole = memoryview(document)
    return b"".join((whole[: span[0]], orjson.dumps(model), whole[span[1] :]))


def _every_renamed(data: bytes, name: bytes) -> bytes:
    """``data`` (whole lines of a stream) with every ``model`` member's value ``name``."""
    pieces, done, at = [], 0, data.find(_KEY)
    while at >= 0:
        if (span := _value(data, at)) is not None:
            pieces += [data[done : span[0]], name]
            done = span[1]
        at = data.find(_KEY, at + 1)
    return b"".join([*pieces, data[done:]]) if pieces else data


class StreamRenamer:
    """Renames the ``model`` of every event of a relayed stream to the name asked for. A line
    cut between chunks is held until its end arrives (a client reads an event only at its end,
    so no event waits): :meth:`feed` answers what may be passed on now."""

    def __init__(self, model: str) -> None:
        self._name = orjson.dumps(model)
        self._pending = b""

    def feed(self, chunk: bytes) -> bytes:
        data = self._pending + chunk if self._pending else chunk
        cut = data.rfind(b"\n") + 1
        self._pending = data[cut:]
        return _every_renamed(data[:cut], self._name)

    def rest(self) -> bytes:
        """The end of a last line the stream never finished (it broke off), as it came."""
        rest, self._pending = self._pending, b""
        return rest


#: How much of a replica's error text its OpenAI-shaped message keeps; a longer body is not
#: read for its shape.
_ERROR_TEXT, _ERROR_READ = 500, 1 << 16


def openai_error(deployment: str, status: int, data: bytes) -> bytes | None:
    """A replica's error answer in OpenAI's shape, keeping its status and text, when it is in
    another (a web framework's plain-text 500, a proxy's HTML page); None when it is in
    OpenAI's shape already, or in vLLM's own (``"object": "error"``), which clients read too."""
    document: object = None
    if len(data) <= _ERROR_READ:
        with contextlib.suppress(orjson.JSONDecodeError):
            document = orjson.loads(data)
    if isinstance(document, dict) and (
        isinstance(document.get("error"), dict) or document.get("object") == "error"
    ):
        return None
    text = data[: _ERROR_TEXT + 4].decode("utf-8", "replace").strip()
    text = text[:_ERROR_TEXT] + "…" if len(text) > _ERROR_TEXT else text or "no text"
    message = f"the replica of {deployment!r} answered {status}: {text}"
    error = {"message": message, "type": openai_type(status), "param": None, "code": status}
    return orjson.dumps({"error": error})


#: OpenAI's codes for errors that have no inferd code of their own name.
_OPENAI_CODES = {"model_not_found": 404, "context_length_exceeded": 400}


class StreamError:
    """Finds the error event in a relayed stream (``data: {"error": {...}}``: the replica's
    generation failed after the stream began) and the status it stands for, from its ``code``:
    inferd's (``deadline_exceeded``…) or an engine's HTTP status (llama-server's)."""

    def __init__(self) -> None:
        self._pending = b""
        self.status: int | None = None

    def feed(self, chunk: bytes) -> None:
        if self.status is not None:
            return
        lines = (self._pending + chunk).split(b"\n")
        self._pending = lines.pop()
        for line in lines:
            if line.startswith(b"data:") and line[5:].lstrip().startswith(b'{"error"'):
                self.status = _error_status(line[5:])
                return


def _error_status(data: bytes) -> int:
    try:
        event = orjson.loads(data)
    except orjson.JSONDecodeError:
        return 500
    error = event.get("error") if isinstance(event, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    if isinstance(code, int) and 400 <= code <= 599:
        return code
    if isinstance(code, str):
        if code in _OPENAI_CODES:
            return _OPENAI_CODES[code]
        known = next((c for c in Code if c.value == code.upper()), None)
        if known is not None:
            return STATUS_BY_CODE.get(known, 500)
    return 500
