"""Durations that must pass for time to pass: an interval, a timeout or a window of 0 s would
spin a loop or refuse every request, so it is refused at its line."""

from __future__ import annotations

import pytest

from inferd.spec.loading import SpecError, parse_spec

SPEC = """\
apiVersion: inferd.dev/v1
kind: Stack
gateway:
  request_timeout: 30s
  shadow_timeout: 2s
deployments:
  - name: fraud
    versions:
      - {name: v1, model: "fraud:v1"}
    rollout:
      strategy: canary
      steps: [100]
      interval: 1m
    autoscaling:
      min_replicas: 0
      stable_window: 60s
      panic_window: 6s
      cold_start_timeout: 60s
"""


@pytest.mark.parametrize(
    ("setting", "line"),
    [
        ("request_timeout: 30s", 4),
        ("shadow_timeout: 2s", 5),
        ("interval: 1m", 13),
        ("stable_window: 60s", 16),
        ("panic_window: 6s", 17),
        ("cold_start_timeout: 60s", 18),
    ],
)
def test_a_duration_of_zero_is_refused_at_its_line(setting: str, line: int) -> None:
    assert parse_spec(SPEC, "inferd.yaml").deployments  # valid as written
    key = setting.partition(":")[0]
    with pytest.raises(SpecError) as caught:
        parse_spec(SPEC.replace(setting, f"{key}: 0s"), "inferd.yaml")
    problems = [(p.line, p.message) for p in caught.value.problems]
    assert any(at == line and "greater than 0" in m for at, m in problems), problems
