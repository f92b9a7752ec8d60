"""docs/kubernetes.md's `inferd doctor` example is what doctor prints on a CPU machine: the same
lines, each labelled the same way (versions and providers differ between installs)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
INFERD = str(Path(sys.executable).with_name("inferd"))


def shape(line: str) -> str:
    """A line's label: what comes before its first ':', version numbers left out."""
    return re.sub(r"\d[\w.]*", "N", line.split(":", 1)[0]).strip()


def test_the_doctor_example_has_the_lines_doctor_prints() -> None:
    text = (ROOT / "docs" / "kubernetes.md").read_text(encoding="utf-8")
    (example,) = re.findall(r"on a CPU machine:\n\n```\n(.*?)```", text, re.DOTALL)
    printed = subprocess.run([INFERD, "doctor"], capture_output=True, text=True, check=True).stdout
    if "NVML is not usable" not in printed:
        pytest.skip("NVML sees a GPU here: the example is a CPU machine's")
    assert [shape(line) for line in printed.splitlines()] == [
        shape(line) for line in example.splitlines()
    ], printed
