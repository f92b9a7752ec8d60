"""Loaded by ``bench/call_count.py``'s servers (first on ``PYTHONPATH``): SIGUSR1 starts a cProfile
of the main thread, where the event loop runs the request path; the next SIGUSR1 stops it and
writes the profile to ``$CALL_COUNT_PROFILE``."""

import cProfile
import os
import signal
import threading
from types import FrameType

#: The profile under way, if any.
_running: list[cProfile.Profile] = []


def _toggle(signum: int, frame: FrameType | None) -> None:
    if not _running:
        _running.append(cProfile.Profile())
        _running[0].enable()
    else:
        profile = _running.pop()
        profile.disable()
        profile.dump_stats(os.environ["CALL_COUNT_PROFILE"])


if os.environ.get("CALL_COUNT_PROFILE") and threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGUSR1, _toggle)
