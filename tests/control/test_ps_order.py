"""``inferd ps`` lists replicas in the spec's order — deployment, then version, then replica —
as ``docker compose ps`` lists services, not in the order they happened to start: after an
apply replaced the first deployment's replicas, its rows came after the second's."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import fraud_store, start_up

pytestmark = pytest.mark.slow

SPEC = """\
apiVersion: inferd.dev/v1
kind: Stack
gateway: {port: 0, drain_timeout: 5s}
deployments:
  - name: fraud
    versions:
      - {name: v1, model: fraud:v1, replicas: 1}
      - {name: v2, model: fraud:v2, replicas: 1}
    traffic: {weights: {v1: 90, v2: 10}}
    batching: {max_batch_size: BATCH}
  - name: risk
    versions:
      - {name: a, model: fraud:v2, replicas: 1}
"""


def test_ps_lists_replicas_in_the_specs_order_after_an_apply(tmp_path: Path) -> None:
    home = tmp_path / "home"
    fraud_store(home)
    spec = tmp_path / "inferd.yaml"
    spec.write_text(SPEC.replace("BATCH", "8"))
    up = start_up(home, spec)
    try:
        spec.write_text(SPEC.replace("BATCH", "16"))  # fraud's replicas are replaced
        assert "fraud/v1: replace" in up.cli("apply", str(spec)).stdout
        rows = [(r["deployment"], r["version"]) for r in up.ps()["replicas"]]  # type: ignore[attr-defined]
        assert rows == [("fraud", "v1"), ("fraud", "v2"), ("risk", "a")]
        table = up.cli("ps").stdout.splitlines()[1:]
        assert [line.split()[0] for line in table] == ["fraud", "fraud", "risk"]
    finally:
        assert up.stop() == 0
