"""A deployment removed by an apply while at zero replicas stayed routed until the next apply:
the routing without removed versions was published only when replicas were retired. ``inferd
ps`` still listed it and its requests got 503 "has no ready replica" instead of 404."""

from __future__ import annotations

import asyncio
from pathlib import Path

from inferd.control.reconciler import Reconciler
from inferd.control.replicas.supervisor import Supervisor
from inferd.spec.loading import parse_spec

from .conftest import fraud_store, spec_text

AT_ZERO = """\
  - name: churn
    versions:
      - {name: v1, model: "fraud:v1", replicas: 0}
    autoscaling: {min_replicas: 0, max_replicas: 2, scale_to_zero_after: 15s}
"""


def test_a_deployment_removed_at_zero_leaves_the_routing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with_churn = spec_text({"v1": ("fraud:v1", 1, 100)}, drain="1s")
    with_churn = with_churn.replace("deployments:\n", "deployments:\n" + AT_ZERO, 1)
    without = spec_text({"v1": ("fraud:v1", 1, 100)}, drain="1s")

    async def main() -> tuple[set[str], set[str]]:
        supervisor = Supervisor()
        reconciler = Reconciler(
            supervisor, fraud_store(home), home / "up", settle_s=0.2, ready_timeout_s=60
        )
        try:
            await reconciler.apply(parse_spec(with_churn))
            before = set(supervisor.topology.deployments)
            await reconciler.apply(parse_spec(without))
            return before, set(supervisor.topology.deployments)
        finally:
            await reconciler.shutdown(5)

    before, after = asyncio.run(main())
    assert before == {"churn", "fraud"}
    assert after == {"fraud"}
