"""A sandbox worker that dies between calls — killed by the kernel's OOM killer, an operator's
``kill -9`` — costs no request: none was in flight on it (RELIABILITY R5: failures at most the
requests in flight on the dead worker). The next request finds it gone, starts a new one and is
answered.
"""

from __future__ import annotations

import os
import signal
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from inferd.card import ModelCard
from inferd.runtimes import LoadOptions, get_runtime
from inferd.sandbox.model import SandboxedModel

MODEL = """
import numpy as np

class Model:
    def predict(self, inputs):
        return {"y": inputs["x"]}
"""


@pytest.fixture
def model(tmp_path: Path) -> Iterator[SandboxedModel]:
    (tmp_path / "model.py").write_text(textwrap.dedent(MODEL))
    card = ModelCard(name="m", runtime="python", entrypoint="model:Model")
    loaded = get_runtime("python").load(tmp_path, card, LoadOptions(trust_code=True))
    assert isinstance(loaded, SandboxedModel)
    yield loaded
    loaded.close()


def _killed(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    # Wait for the death itself, without reaping it (the worker is our child: a zombie until
    # the model reaps it). The leader thread shows as a zombie before its other threads end.
    flags = os.WEXITED | os.WNOWAIT | os.WNOHANG
    while os.waitid(os.P_PID, pid, flags) is None:
        os.sched_yield()


def test_a_worker_killed_while_idle_costs_the_next_request_nothing(
    model: SandboxedModel,
) -> None:
    first = model.pid
    assert first is not None
    _killed(first)
    outputs = model.predict({"x": np.array([7], dtype=np.int64)})
    np.testing.assert_array_equal(outputs["y"], [7])
    assert model.pid not in (first, None)  # a new worker answered
