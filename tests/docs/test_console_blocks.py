"""The docs' console sessions that need only this machine run as written and print what the
page shows.

A ``console`` block is a session: ``$ COMMAND`` lines, each followed by what the terminal shows
(stderr and stdout, in the order they arrive). ``BLOCKS`` names the blocks run here by their first
command; each runs in one bash session in a fresh directory holding ``examples/`` (and the files
the block reads but a reader has already, such as the spec to validate), with its own
``INFERD_HOME``. Every command must succeed unless the next one is ``echo $?``, which shows its
status, or the block lists the status it exits with. A command followed by output lines must
print exactly those lines, where ``HEX…`` stands for any hex digits and the same ``HEX…`` twice
in a block for the same ones (``sha256:3f5c…`` twice: the same digest twice). A command shown
without output is not compared (its comment says what it prints).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CONSOLE = re.compile(r"^```console\n(.*?)^```", re.DOTALL | re.MULTILINE)
PLACEHOLDER = re.compile(r"[0-9a-f]{4,}…")
MARK = "@@inferd-doc-test status "

#: spec.md's example mistakes: `replica` on line 9, weights that add up to 95 on line 16.
MISTAKES = """\
apiVersion: inferd.dev/v1
kind: Stack
metadata:
  name: quickstart
deployments:
  - name: fraud
    versions:
      - name: v1
        replica: 2
        model: fraud:v1
      - name: v2
        model: fraud:v2
        replicas: 1
    traffic:
      weights:
        v1: 85
        v2: 10
"""


@dataclass(frozen=True)
class Block:
    page: str
    first: str
    files: dict[str, str] = field(default_factory=dict)
    #: The status of a command that fails as the page says, where no ``echo $?`` shows it.
    statuses: dict[str, int] = field(default_factory=dict)


BLOCKS = [
    Block("store.md", "$ inferd push examples/quickstart/fraud-v1 fraud:v1 && inferd push"),
    Block("store.md", "$ python -c \"import numpy as np; np.save('train.npy'"),
    Block(
        "spec.md",
        "$ inferd spec validate inferd.yaml",
        {"inferd.yaml": MISTAKES},
        {"inferd spec validate --json inferd.yaml": 2},
    ),
]


@dataclass
class Step:
    command: str
    shown: list[str] = field(default_factory=list)


def session(block: Block) -> list[Step]:
    """The commands and shown output of the page's console block that starts with ``first``."""
    text = (ROOT / "docs" / block.page).read_text(encoding="utf-8")
    found = [m.group(1) for m in CONSOLE.finditer(text) if m.group(1).startswith(block.first)]
    assert len(found) == 1, f"{block.page}: one console block starts with {block.first!r}"
    steps: list[Step] = []
    for line in found[0].splitlines():
        if line.startswith("$ "):
            steps.append(Step(line.removeprefix("$ ")))
        elif line.strip():
            steps[-1].shown.append(line)
    return steps


def script(steps: list[Step]) -> str:
    """The session as one bash script that marks where each command's output ends."""
    lines = ["exec 2>&1"]
    for step in steps:
        lines += [step.command, f'__status=$?; echo; echo "{MARK}$__status"; (exit $__status)']
    return "\n".join(lines) + "\n"


def outputs(printed: str) -> list[tuple[list[str], int]]:
    """Each command's non-blank output lines and exit status, in order."""
    found: list[tuple[list[str], int]] = []
    lines: list[str] = []
    for line in printed.splitlines():
        if line.startswith(MARK):
            found.append((lines, int(line.removeprefix(MARK))))
            lines = []
        elif line.strip():
            lines.append(line)
    return found


def matches(shown: str, printed: str, seen: dict[str, str]) -> bool:
    """Whether ``printed`` is the line the page shows; ``seen`` holds what each ``HEX…`` stood
    for so far."""
    pieces = PLACEHOLDER.split(shown)
    tokens = PLACEHOLDER.findall(shown)
    pattern = "".join(
        re.escape(piece) + (f"([0-9a-f]{{{len(tokens[i]) - 1},}})" if i < len(tokens) else "")
        for i, piece in enumerate(pieces)
    )
    match = re.fullmatch(pattern, printed)
    if match is None:
        return False
    return all(
        seen.setdefault(token, value) == value
        for token, value in zip(tokens, match.groups(), strict=True)
    )


def git_dir() -> str:
    return subprocess.run(["git", "rev-parse", "--absolute-git-dir"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip


@pytest.mark.parametrize("block", BLOCKS, ids=[f"{b.page}:{b.first[2:40]}" for b in BLOCKS])
def test_a_console_block_runs_as_written(block: Block, tmp_path: Path) -> None:
    steps = session(block)
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    for name, content in block.files.items():
        (tmp_path / name).write_text(content, encoding="utf-8")
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "INFERD_HOME": str(tmp_path / "home"), "GIT_DIR": git_dir(),
           "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}  # fmt: skip
    run = subprocess.run(["bash", "-c", script(steps)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=False, timeout=60)  # fmt: skip
    results = outputs(run.stdout)
    assert len(results) == len(steps), run.stdout
    seen: dict[str, str] = {}
    for i, (step, (printed, status)) in enumerate(zip(steps, results, strict=True)):
        shows_status = i + 1 < len(steps) and steps[i + 1].command == "echo $?"
        command = re.sub(r"\s+#.*$", "", step.command)
        said = "\n".join(printed)
        expected = block.statuses.get(command, 0)
        assert shows_status or status == expected, f"$ {step.command}\nexit {status}\n{said}"
        if step.shown:
            shown = "\n".join(step.shown)
            assert len(printed) == len(step.shown) and all(
                matches(line, out, seen) for line, out in zip(step.shown, printed, strict=True)
            ), f"$ {step.command}\nthe page shows:\n{shown}\nit printed:\n{said}"
