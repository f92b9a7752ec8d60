"""One trusted model cannot read another's memory: every sandbox worker runs as the server's
user without capabilities, so each could open another's ``/proc/<pid>/mem`` (the other
model's weights, and the inputs other clients sent it) unless the worker is not dumpable, or,
as now, in a PID namespace of its own, where no other worker's pid names anything."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from inferd.sandbox.model import SandboxedModel

from .conftest import sandboxed_python

#: Held in the victim's memory once loaded (read from its own directory, so it is in the heap).
SECRET = b"victim-secret-7f3a9c1e5b"

VICTIM = """
import numpy as np

class Model:
    def load(self, path):
        self.secret = (path / "secret.bin").read_bytes() * 4
    def predict(self, inputs):
        return {"y": inputs["x"]}
"""

#: Scans the memory of the worker whose pid is ``x`` for the victim's secret: 1 when found, else
#: the errno that stopped it (0: read, not found).
SNOOP = """
import numpy as np

class Model:
    def predict(self, inputs):
        pid = int(inputs["x"].ravel()[0])
        secret = bytes(inputs["secret"].ravel().tolist())
        try:
            with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
                for line in maps:
                    span, perms = line.split()[:2]
                    if not perms.startswith("rw"):
                        continue
                    start, end = (int(a, 16) for a in span.split("-"))
                    try:
                        mem.seek(start)
                        if secret in mem.read(end - start):
                            return {"found": np.array([1])}
                    except OSError:
                        continue
        except OSError as exc:
            return {"found": np.array([-(exc.errno or 1)])}
        return {"found": np.array([0])}
"""


@pytest.fixture
def models(tmp_path: Path) -> Iterator[list[SandboxedModel]]:
    loaded: list[SandboxedModel] = []
    yield loaded
    for model in loaded:
        model.close()


def _load(tmp_path: Path, name: str, code: str, loaded: list[SandboxedModel]) -> SandboxedModel:
    directory = tmp_path / name
    directory.mkdir()
    (directory / "secret.bin").write_bytes(SECRET)
    model = sandboxed_python(directory, code, name=name)
    loaded.append(model)
    return model


def test_a_worker_cannot_read_another_workers_memory(
    tmp_path: Path, models: list[SandboxedModel]
) -> None:
    victim = _load(tmp_path, "victim", VICTIM, models)
    snoop = _load(tmp_path, "snoop", SNOOP, models)
    assert victim.pid is not None
    found = snoop.predict(
        {"x": np.array([victim.pid]), "secret": np.frombuffer(SECRET, dtype=np.uint8)}
    )["found"]
    # ENOENT: the victim is in no namespace the snoop sees; EACCES, EPERM: not dumpable.
    assert int(found[0]) in (-errno.ENOENT, -errno.EACCES, -errno.EPERM), "read its memory"
