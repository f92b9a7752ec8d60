"""A trusted model writes nowhere but scratch space: the worker runs as the server's user (root,
for isolation), which owns the system's files and needs no capability to write them, so a
model could rewrite inferd's own modules (code the server runs at its next start), the keys
file or ``/etc`` unless the whole filesystem is read-only in the worker's mount namespace."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import inferd

from .conftest import sandboxed_python

#: The directories a sandboxed model may write (docs/security.md).
SCRATCH = tuple(Path(d).resolve() for d in ("/tmp", "/var/tmp", "/dev/shm"))
#: predict reports the errno of opening each path for writing (0: it could).
MODEL = """
import os
import numpy as np

PATHS = {paths!r}

class Model:
    def predict(self, inputs):
        codes = []
        for path in PATHS:
            try:
                with open(path, "ab"):
                    pass  # opened for writing; nothing written
                codes.append(0)
            except OSError as exc:
                codes.append(exc.errno or -1)
        return {{"errno": np.array(codes)}}
"""


def _code_outside_scratch() -> Path:
    """inferd's own code, or where a checkout sits under /tmp (a scratch directory the model
    may write, as CI's clean clone does) the Python standard library the server runs."""
    for module in (inferd.__file__, os.__file__):
        path = Path(module).resolve()
        if not any(path.is_relative_to(d) for d in SCRATCH):
            return path
    raise AssertionError("no code of the server's outside the scratch directories")


def test_the_model_can_write_only_to_scratch_space(tmp_path: Path) -> None:
    own_code = _code_outside_scratch()
    scratch = tmp_path / "scratch.txt"
    paths = [str(own_code), "/etc/hostname", str(scratch)]
    before = own_code.stat().st_mtime_ns
    model = sandboxed_python(tmp_path / "model", MODEL.format(paths=paths))
    try:
        codes = model.predict({"x": np.array([1])})["errno"].tolist()
    finally:
        model.close()
    assert codes == [errno.EROFS, errno.EROFS, 0]
    assert own_code.stat().st_mtime_ns == before
    assert scratch.exists()  # /tmp stays writable for the model


@pytest.fixture
def read_only_mount(tmp_path: Path) -> Iterator[Path]:
    """A directory under the scratch space the operator mounted read-only (a Kubernetes secret
    or a ``docker -v …:ro`` volume under ``/tmp``), holding ``f``."""
    if not any(tmp_path.resolve().is_relative_to(d) for d in SCRATCH):
        pytest.skip("the test's temporary directory is not under a scratch directory")
    mounted = tmp_path / "ro"
    mounted.mkdir()
    (mounted / "f").write_text("the operator's\n")
    subprocess.run(["mount", "--bind", str(mounted), str(mounted)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(mounted)], check=True)
        yield mounted
    finally:
        subprocess.run(["umount", str(mounted)], check=True)


def test_a_read_only_mount_under_scratch_space_stays_read_only(
    tmp_path: Path, read_only_mount: Path
) -> None:
    writable = tmp_path / "beside.txt"
    paths = [str(read_only_mount / "f"), str(writable)]
    model = sandboxed_python(tmp_path / "model", MODEL.format(paths=paths))
    try:
        codes = model.predict({"x": np.array([1])})["errno"].tolist()
    finally:
        model.close()
    assert codes == [errno.EROFS, 0]
    assert (read_only_mount / "f").read_text() == "the operator's\n"
