"""Ctrl-C in ``inferd apply`` or ``inferd down`` stops the command, not what it asked of
``inferd up``: the apply goes on there (new replicas start, traffic moves) and the drain goes
on to the stop. "cancelled (interrupted)" alone read as if nothing had changed."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import inferd.control.up_state as up_state
from inferd.cli import main
from inferd.control.admin.client import AdminClient
from inferd.control.up_state import UpState, write_state

SPEC = Path(__file__).resolve().parents[2] / "examples" / "quickstart" / "inferd.yaml"


def interrupted(*_args: object, **_kwargs: object) -> None:
    raise KeyboardInterrupt


@pytest.fixture
def running(inferd_home: Path) -> int:
    """An ``inferd up`` as the CLI finds it (this process's pid): its pid."""
    state = UpState(os.getpid(), "127.0.0.1", 1, "http://127.0.0.1:1", str(SPEC), time.time())
    write_state(inferd_home, state, "token")
    return state.pid


def test_ctrl_c_in_apply_says_the_apply_goes_on(
    running: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(AdminClient, "apply", interrupted)
    result = CliRunner().invoke(main, ["apply", str(SPEC)])
    assert result.exit_code == 130
    assert result.stderr.splitlines() == [
        f"error: cancelled (interrupted): inferd up (pid {running}) goes on with the apply "
        f"of {SPEC} if it received it, without rolling back; see inferd ps"
    ]


def test_ctrl_c_in_down_says_the_stop_goes_on(
    running: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(AdminClient, "status", lambda _client: {})
    monkeypatch.setattr(up_state, "stop", interrupted)
    result = CliRunner().invoke(main, ["down"])
    assert result.exit_code == 130
    assert result.stderr.splitlines() == [
        f"error: cancelled (interrupted): inferd up (pid {running}) goes on draining, then "
        "stops; it is not killed"
    ]
