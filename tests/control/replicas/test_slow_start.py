"""A replica whose model takes longer to load than the startup bound is left to load, as long
as its server answers its probe meanwhile (503 until the model is ready: it binds first), as a
Kubernetes startup probe lets a pod load (R3). It used to be killed at the bound and started
again, the apply failing with "replicas not ready" though nothing was wrong: a model that loads
for longer than 120 s could never run under ``inferd up``. A replica that answers nothing is
still given up on at the bound."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from inferd.control.reconciler import Reconciler
from inferd.control.replicas.supervisor import Supervisor
from inferd.errors import Unavailable
from inferd.spec.loading import parse_spec

from ..conftest import fraud_store
from .conftest import store_with_python_model

pytestmark = pytest.mark.slow

#: Longer than the bounds below: the load outlasts them, however fast the machine.
LOAD_S = 25
BOUND_S = 12.0

MODEL_YAML = """\
runtime: python
entrypoint: model:Slow
inputs:
  - {name: input, datatype: FP32, shape: [-1, 8]}
outputs:
  - {name: score, datatype: FP32, shape: [-1]}
"""
MODEL_PY = f"""\
import time

import numpy as np


class Slow:
    def load(self, path):
        time.sleep({LOAD_S})

    def predict(self, inputs):
        return {{"score": np.zeros(inputs["input"].shape[0], dtype=np.float32)}}
"""
SPEC = """\
apiVersion: inferd.dev/v1
kind: Stack
gateway: {port: 0, drain_timeout: 5s}
deployments:
  - name: slow
    versions:
      - {name: a, model: "slow:v1", replicas: 1, trust_code: true}
"""


def test_a_replica_that_loads_past_the_startup_bound_is_waited_for(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = store_with_python_model(home, tmp_path / "slow", "slow:v1", MODEL_YAML, MODEL_PY)

    async def main() -> None:
        supervisor = Supervisor(startup_timeout_s=BOUND_S)
        reconciler = Reconciler(supervisor, store, home / "up", ready_timeout_s=BOUND_S)
        try:
            await reconciler.apply(parse_spec(SPEC))
            (replica,) = supervisor.replicas()
            assert (replica.state, replica.restarts) == ("ready", 0), replica.reason
        finally:
            await reconciler.shutdown(5)

    asyncio.run(main())


def test_a_replica_that_never_answers_is_given_up_on(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = fraud_store(home)
    spec = parse_spec(SPEC.replace("slow:v1", "fraud:v1").replace(", trust_code: true", ""))

    async def main() -> None:
        supervisor = Supervisor(startup_timeout_s=60)
        reconciler = Reconciler(supervisor, store, home / "up", ready_timeout_s=0.5)
        try:
            with pytest.raises(Unavailable, match="slow-a-1"):
                await reconciler.apply(spec)
        finally:
            await reconciler.shutdown(5)

    asyncio.run(main())
