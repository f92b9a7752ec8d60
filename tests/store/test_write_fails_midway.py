"""A blob write that fails midway for lack of room (a full disk during a pull: ENOSPC, or a
file-size limit: EFBIG) leaves no temporary file behind. Bytes still buffered when the write is
abandoned fail again as the file is closed, and that second failure skipped the removal, so
every pull that hit a full disk left a partial download in ``blobs/sha256/`` for gc to find
ten minutes later."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

#: Writes network-sized pieces into a staged blob under a file-size limit, as a download does.
SCRIPT = """
import resource, sys
from pathlib import Path
from inferd.store.atomic import staged
resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, resource.RLIM_INFINITY))
try:
    with staged(Path(sys.argv[1]), mode=0o444) as stage:
        for _ in range(1000):
            stage.handle.write(b"x" * 1000)
except OSError as exc:
    print(exc.errno)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE and EFBIG as on Linux")
def test_a_write_that_runs_out_of_room_leaves_no_temporary_file(tmp_path: Path) -> None:
    blobs = tmp_path / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(blobs)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "27"  # EFBIG: the write failed, as on a full disk
    assert list(blobs.iterdir()) == []
