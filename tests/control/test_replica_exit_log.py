"""A replica that exits is logged by ``inferd up`` with where its own output is: the line says
why in a few words (``loading 'model:Broken' raised RuntimeError``), the replica's traceback is
in ``$INFERD_HOME/up/logs/<replica>.log``, which nothing pointed the operator to."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from inferd.control.reconciler import Reconciler
from inferd.control.replicas.supervisor import Supervisor
from inferd.errors import Unavailable
from inferd.packaging import push
from inferd.spec.loading import parse_spec

from .conftest import fraud_store

pytestmark = pytest.mark.slow

MODEL_YAML = """\
runtime: python
entrypoint: model:Broken
inputs:
  - {name: input, datatype: FP32, shape: [-1, 8]}
outputs:
  - {name: score, datatype: FP32, shape: [-1]}
"""
MODEL_PY = """\
class Broken:
    def load(self, path):
        raise RuntimeError("weights file corrupt")

    def predict(self, inputs):
        return {}
"""
SPEC = """\
apiVersion: inferd.dev/v1
kind: Stack
gateway: {port: 0, drain_timeout: 5s}
deployments:
  - name: broken
    versions:
      - {name: a, model: "broken:v1", replicas: 1, trust_code: true}
"""


def test_a_replica_that_exits_is_logged_with_its_output_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    home = tmp_path / "home"
    store = fraud_store(home)
    model = tmp_path / "broken"
    model.mkdir()
    (model / "inferd.model.yaml").write_text(MODEL_YAML)
    (model / "model.py").write_text(MODEL_PY)
    push(store, model, "broken:v1")

    async def main() -> None:
        reconciler = Reconciler(Supervisor(), store, home / "up", ready_timeout_s=60)
        try:
            with pytest.raises(Unavailable, match="cannot start"):
                await reconciler.apply(parse_spec(SPEC))
        finally:
            await reconciler.shutdown(5)

    with caplog.at_level(logging.WARNING, logger="inferd.control.replicas.replica"):
        asyncio.run(main())
    exits = [r.getMessage() for r in caplog.records if "broken-a-1 exited" in r.getMessage()]
    assert exits, caplog.text
    output = home / "up" / "logs" / "broken-a-1.log"
    assert str(output) in exits[0]
    assert "RuntimeError: weights file corrupt" in output.read_text()
