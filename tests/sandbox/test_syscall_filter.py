"""A trusted model cannot leave a set-user-ID or set-group-ID file behind: its worker runs as
the server's user (root, for isolation) and writes the host's own scratch directories, so a
copy of a shell given ``chmod 4755`` there was a root shell for any local user wherever the
host mounts ``/tmp`` without ``nosuid``. Ordinary modes stay the model's to set."""

from __future__ import annotations

import errno
import stat
from pathlib import Path

import numpy as np

from inferd.sandbox.syscalls import program

from .conftest import sandboxed_python

#: predict reports the errno of each attempt (0: it succeeded) on files in ``where``.
MODEL = """
import os
import shutil
import sys

import numpy as np

WHERE = {where!r}


def attempt(action):
    try:
        action()
        return 0
    except OSError as exc:
        return exc.errno or -1


class Model:
    def predict(self, inputs):
        copy = os.path.join(WHERE, "sh")
        shutil.copy(sys.executable, copy)
        made = os.path.join(WHERE, "made")
        fd = os.open(os.path.join(WHERE, "plain"), os.O_CREAT | os.O_WRONLY, 0o644)
        os.close(fd)
        codes = [
            attempt(lambda: os.chmod(copy, 0o4755)),
            attempt(lambda: os.chmod(copy, 0o2755)),
            attempt(lambda: os.close(os.open(made, os.O_CREAT | os.O_WRONLY, 0o4755))),
            attempt(lambda: os.chmod(copy, 0o755)),
        ]
        with open(copy, "rb") as f:
            os.fchmod(f.fileno(), 0o700)
            codes.append(attempt(lambda: os.fchmod(f.fileno(), 0o4700)))
        return {{"errno": np.array(codes)}}
"""


def test_a_trusted_model_cannot_make_a_set_user_id_file(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    model = sandboxed_python(tmp_path / "model", MODEL.format(where=str(scratch)))
    try:
        codes = model.predict({"x": np.array([1])})["errno"].tolist()
    finally:
        model.close()
    assert codes == [errno.EPERM, errno.EPERM, errno.EPERM, 0, errno.EPERM]
    assert stat.S_IMODE((scratch / "sh").stat().st_mode) == 0o700
    assert not (scratch / "made").exists()
    assert stat.S_IMODE((scratch / "plain").stat().st_mode) & 0o6000 == 0


def test_every_jump_of_the_filter_goes_forward_and_lands_inside_it() -> None:
    """The kernel refuses a filter with a backward jump (EINVAL), failing every trusted load."""
    for machine in ("x86_64", "aarch64"):
        code = program(machine)
        assert code is not None
        assert code[-1][0] == 0x06  # it ends with a return
        for at, (op, jt, jf, _) in enumerate(code):
            if op & 0x07 == 0x05:  # BPF_JMP
                assert min(jt, jf) >= 0
                assert at + 1 + max(jt, jf) < len(code)
    assert program("sparc64") is None
