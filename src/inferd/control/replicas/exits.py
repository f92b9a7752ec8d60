"""How a replica's end is told: its exit status, and what it said last before it ended.

``inferd serve`` ends a failure with one ``error: …`` line (docs/cli.md), which becomes the
replica's reason; an engine (llama-server, vLLM) has no such line, so its last line is shown.
"""

from __future__ import annotations

import re
import signal

#: How the CLI begins the line that says why it failed.
ERROR_PREFIX = b"error: "
#: The longest reason taken from that line.
MAX_REASON_CHARS = 500


def error_line(output: bytes) -> str | None:
    """What the last ``error:`` line in ``output`` says (None: there is none)."""
    for line in reversed(output.splitlines()):
        if line.startswith(ERROR_PREFIX):
            text = line[len(ERROR_PREFIX) :].decode("utf-8", "replace").strip()
            return text[:MAX_REASON_CHARS] or None
    return None


#: A log line at ERROR or above, as ``inferd serve`` writes them (server/logs.py's LOG_FORMAT):
#: date, time, level, logger, then the message.
_LOGGED_ERROR = re.compile(rb"^\S+ \S+ (?:ERROR|CRITICAL) \S+: (.+)$")


def logged_error(output: bytes) -> str | None:
    """The message of the last line ``output`` logged at ERROR or above (None: there is none)."""
    for line in reversed(output.splitlines()):
        match = _LOGGED_ERROR.match(line.strip())
        if match:
            return match.group(1).decode("utf-8", "replace").strip()[:MAX_REASON_CHARS]
    return None


def unready_reason(output: bytes, liveness_threshold: int, silent: bool) -> str:
    """Why a replica that was ready is out of rotation: it answers its probes no more (and is
    restarted after ``liveness_threshold`` in a row), or it answers not ready, with the last
    error its run logged (``output``), if any: a model's worker crashing, say."""
    if silent:
        return f"no answer to its health probes; restarted after {liveness_threshold} in a row"
    said = logged_error(output)
    return (
        f"readiness probe failing; its last logged error: {said}"
        if said
        else "readiness probe failing"
    )


def crash_loop(reason: str, failures: int, delay_s: float) -> str:
    """``reason`` of a replica that failed ``failures`` times in a row, with the back-off before
    its next restart (Kubernetes' CrashLoopBackOff)."""
    return f"{reason} ({failures} failures in a row: back-off {delay_s:.1f} s before restarting)"


def with_last_line(reason: str, output: bytes) -> str:
    """``reason`` with the last line the process wrote, if any."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    if not lines:
        return reason
    return f"{reason}: {lines[-1].decode('utf-8', 'replace')[:MAX_REASON_CHARS]}"


def describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exited with status {code}"
