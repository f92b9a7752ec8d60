"""Output to a reader that went away (``inferd ls | head -1``, ``| grep -q``): the command
stops quietly, with no BrokenPipeError traceback, and exits 141, as a shell reports a command
ended by SIGPIPE (128 + 13). It exited 1, which docs/cli.md gives to internal errors: a script
under ``set -o pipefail`` could not tell a bug from a closed pipe.

The pipe's read end is closed before the command starts, so its first write fails on any
machine, with no timing guess (``head`` closing while inferd writes is the same failure, later).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from inferd.control.rollout.history import RolloutHistory

from .test_json_times import DECISION

INFERD = [
    sys.executable,
    "-c",
    "import sys; from inferd.cli._console import main; sys.exit(main())",
]


@pytest.mark.parametrize(
    "args",
    [
        ["spec", "schema"],
        ["ls", "--json"],
        ["rollout", "history", "fraud"],
        ["rollout", "history", "fraud", "--json"],
        ["ls", "--help"],
        ["--help"],
        ["--version"],
    ],
    ids=" ".join,
)
def test_a_closed_pipe_is_141_and_quiet(inferd_home: Path, args: list[str]) -> None:
    RolloutHistory(inferd_home).append(DECISION)
    reader, writer = os.pipe()
    os.close(reader)  # the reader is gone: every write fails with EPIPE
    try:
        done = subprocess.run(
            [*INFERD, *args],
            check=False,
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(writer)
    assert (done.returncode, done.stderr) == (141, "")
