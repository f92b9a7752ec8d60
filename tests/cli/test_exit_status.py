"""Exit statuses: one per failure class, every one documented in docs/cli.md, and a connect
error exits with the documented "unavailable" status."""

from __future__ import annotations

import os
import re
import socket
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from inferd.cli import main
from inferd.cli._app import EXIT_CODES
from inferd.control.up_state import UpState, write_state
from inferd.errors import Code
from inferd.store import ModelStore
from inferd.store.results import Transfer

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
_ROW = re.compile(r"^\| (\d+) \| ([^|]+) \| ([^|]+) \|", re.MULTILINE)


def _documented() -> dict[int, tuple[str, set[str]]]:
    """status → (failure class, error codes) from the table in docs/cli.md."""
    section = DOC.read_text(encoding="utf-8").split("## Exit status", 1)[1]
    return {
        int(status): (name.strip(), set(re.findall(r"`([A-Z_]+)`", codes)))
        for status, name, codes in _ROW.findall(section)
    }


def test_every_error_code_has_one_status_and_each_status_one_class() -> None:
    assert set(EXIT_CODES) == set(Code)
    documented = _documented()
    by_status: dict[int, set[str]] = {}
    for code, status in EXIT_CODES.items():
        by_status.setdefault(status, set()).add(code.value)
    assert {s: codes for s, (_, codes) in documented.items() if codes} == by_status
    assert 0 in documented  # success, and nothing else, has no error code
    classes = [name for name, _ in documented.values()]
    assert len(classes) == len(set(classes))


def test_a_connect_error_exits_with_the_documented_unavailable_status(
    inferd_home: Path,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    state = UpState(os.getpid(), "127.0.0.1", port, "http://127.0.0.1:1", "x.yaml", time.time())
    write_state(inferd_home, state, "token")
    result = CliRunner().invoke(main, ["ps"])
    assert "cannot reach `inferd up`" in result.output
    assert result.exit_code == EXIT_CODES[Code.UNAVAILABLE]
    assert _documented()[result.exit_code][0].startswith("unavailable")


def test_nothing_running_is_unavailable_too(inferd_home: Path) -> None:
    result = CliRunner().invoke(main, ["ps"])
    assert result.exit_code == 7
    assert "no `inferd up` is running" in result.output


def test_ctrl_c_in_a_command_is_cancelled_in_one_line(
    inferd_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not click's "Aborted!" and 1: the shell's 130 (tests/store/remote/test_faults.py sends a
    real SIGINT to a pull and a push)."""

    def interrupted(*_args: object, **_kwargs: object) -> Transfer:
        raise KeyboardInterrupt

    monkeypatch.setattr(ModelStore, "fetch", interrupted)
    result = CliRunner().invoke(main, ["pull", "fraud:v1", str(tmp_path / "out")])
    assert result.exit_code == EXIT_CODES[Code.CANCELLED] == 130
    assert result.stderr.splitlines() == ["error: cancelled (interrupted)"]


def test_ctrl_c_while_a_command_loads_is_cancelled_too(
    inferd_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C in the first seconds of a command, while its module imports (before its own
    error handling runs), was click's "Aborted!" and 1."""

    def interrupted(_name: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("inferd.cli._app.importlib.import_module", interrupted)
    monkeypatch.delitem(main.commands, "ps", raising=False)  # loaded by an earlier test
    result = CliRunner().invoke(main, ["ps"])
    assert result.exit_code == 130
    assert result.stderr.splitlines() == ["error: cancelled (interrupted)"]
