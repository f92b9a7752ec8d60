"""What the OpenAI relay reads in a replica's answer as it passes: the error event that ends a
stream whose generation failed after its 200, and the status that error stands for."""

from __future__ import annotations

import orjson

from inferd.errors import Code
from inferd.protocols.http.messages import STATUS_BY_CODE

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
