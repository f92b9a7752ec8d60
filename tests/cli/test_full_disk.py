"""A full disk (``/dev/full``: every write fails with ENOSPC) under a command's output, a file
it writes or its standard output, is one ``error:`` line and the "too large" status (9, the
class of a pull beyond the free disk space), not a traceback."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

from inferd.cli._app import EXIT_CODES
from inferd.errors import Code

INFERD = [sys.executable, "-c", "import sys; from inferd.cli import main; sys.exit(main())"]
SPEC = Path(__file__).resolve().parents[2] / "examples" / "quickstart" / "inferd.yaml"
FULL = Path("/dev/full")

pytestmark = pytest.mark.skipif(not FULL.exists(), reason="needs /dev/full (Linux)")


def inferd(*args: str, stdout: Path | None = None) -> subprocess.CompletedProcess[str]:
    with open(stdout or "/dev/null", "w") as out:
        return subprocess.run(
            [*INFERD, *args],
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )


def one_error(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == EXIT_CODES[Code.PAYLOAD_TOO_LARGE] == 9, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


def test_an_output_file_on_a_full_disk(inferd_home: Path) -> None:
    line = one_error(inferd("k8s", "rules", str(SPEC), "-o", str(FULL)))
    assert "No space left on device" in line


@pytest.mark.parametrize(
    "command",
    [["spec", "schema"], ["keys", "list", "--json"], ["spec", "validate", str(SPEC)]],
    ids=["spec schema", "keys list --json", "spec validate"],
)
def test_standard_output_on_a_full_disk(inferd_home: Path, command: list[str]) -> None:
    line = one_error(inferd(*command, stdout=FULL))
    assert "No space left on device" in line


def test_a_file_size_limit_is_a_full_disk(inferd_home: Path, tmp_path: Path) -> None:
    """``ulimit -f`` (RLIMIT_FSIZE; Python ignores SIGXFSZ, so writes fail with EFBIG) is a
    disk that is full for this process."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (512, 512))

    out = tmp_path / "rules.yaml"
    done = subprocess.run(
        [*INFERD, "k8s", "rules", str(SPEC), "-o", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=limit,
    )
    line = one_error(done)
    assert "File too large while writing; raise the file-size limit (ulimit -f)" in line
