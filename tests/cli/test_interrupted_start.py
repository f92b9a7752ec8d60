"""Ctrl-C while the ``inferd`` console script imports the command line (a third of a second
warm, seconds cold) is ``cancelled`` and 130, as it is once a command runs, not a
KeyboardInterrupt traceback and status 1.

The script is run as pip writes it, from pyproject's ``[project.scripts]`` (so the test follows
what an install gets, not only this checkout's already-installed script). A ``sitecustomize``
on the child's path holds the import of ``inferd.cli._app`` (the module whose import takes that
time: click, rich, orjson) until the SIGINT arrives and says when it is holding, so the signal
lands inside that import on any machine, with no timing guess. What it proves: an interrupt
anywhere within the command line's import is handled; not the interpreter's own start, before
any inferd code runs (Python's default SIGINT handler ends the process there, 130 in a shell).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

HOLD = """\
import importlib.abc, os, signal, sys

class Hold(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "inferd.cli._app":
            sys.meta_path.remove(self)
            os.write(int(os.environ["HOLDING_FD"]), b"holding")
            while True:
                signal.pause()  # KeyboardInterrupt from here, inside the import
        return None

sys.meta_path.insert(0, Hold())
"""


def _console_script() -> list[str]:
    """The ``inferd`` command as pip's generated script runs it."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, attr = scripts["inferd"].partition(":")
    return [sys.executable, "-c", f"import sys; from {module} import {attr}; sys.exit({attr}())"]


@pytest.mark.timeout(60)
def test_ctrl_c_while_the_cli_imports_is_cancelled_and_130(tmp_path: Path) -> None:
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(HOLD)
    holding, told = os.pipe()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")]),
        "HOLDING_FD": str(told),
        "INFERD_HOME": str(tmp_path / "home"),
        "NO_COLOR": "1",
    }
    child = subprocess.Popen(
        [*_console_script(), "ls"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        pass_fds=[told],
    )
    os.close(told)
    try:
        # The child is inside the import once it says so (b"" if it ended first: it failed).
        assert os.read(holding, 7) == b"holding", child.communicate()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=30)
    finally:
        child.kill()
        os.close(holding)
    assert (child.returncode, out, err) == (130, "", "error: cancelled (interrupted)\n")
