"""``failure_limit: 0`` acts as 1 (the first failed analysis rolls back), and the status says
the limit that acts: it showed ``failures 0/0`` while the rollout rolled back at 1."""

from __future__ import annotations

from inferd.control.rollout.state import policy_of
from inferd.spec.loading import parse_spec

SPEC = """\
apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: fraud
    versions: [{name: v1, model: "fraud:v1"}, {name: v2, model: "fraud:v2", replicas: 1}]
    traffic: {weights: {v1: 100, v2: 0}}
    rollout: {steps: [50, 100], failure_limit: LIMIT}
"""


def test_a_failure_limit_of_0_is_the_1_that_acts() -> None:
    for written, acting in ((0, 1), (1, 1), (3, 3)):
        spec = parse_spec(SPEC.replace("LIMIT", str(written)))
        rollout = spec.deployments[0].rollout
        assert rollout is not None
        assert policy_of(rollout).failure_limit == acting
