"""The quickstart's README says what its spec runs, autoscaler included (issue 12 item 10).

The README names the replicas ``inferd up`` starts; the spec's ``autoscaling:`` may then move
them. The autoscaler (the real :class:`~inferd.control.autoscale.scaler.Autoscaler`) is run
here on the quickstart's own policy under light traffic (queue depth 0, never idle, 1 s ticks
as ``inferd up`` takes them) for twice its scale-down window, and the README must say what
that does: nothing, or a trim to so many replicas after so many minutes.
"""

from __future__ import annotations

from inferd.control.autoscale.decision import ScalingPolicy
from inferd.control.autoscale.scaler import Autoscaler
from inferd.spec.edits import main_version
from inferd.spec.loading import load_spec
from inferd.spec.model import DeploymentSpec

from ..conftest import QUICKSTART, ROOT

NUMBERS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}


def light_traffic(d: DeploymentSpec) -> list[tuple[int, int]]:
    """(second, replicas) for every change the autoscaler makes to the main version."""
    assert d.autoscaling is not None
    policy = ScalingPolicy.from_spec(d.autoscaling)
    scaler = Autoscaler(policy)
    replicas = main_version(d).replicas
    changes = []
    for second in range(int(2 * policy.scale_down_delay_s)):
        scaler.observe(second, 0.0)
        desired = scaler.decide(second, replicas, replicas, idle_s=0.0).desired
        if desired != replicas:
            changes.append((second, desired))
            replicas = desired
    return changes


def test_the_readme_says_what_the_quickstart_runs_and_what_the_autoscaler_does() -> None:
    fraud = load_spec(QUICKSTART / "inferd.yaml").deployments[0]
    v1 = main_version(fraud)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"{NUMBERS[v1.replicas]} replicas of `fraud:{v1.name}`" in readme
    changes = light_traffic(fraud)
    if not changes:
        assert "trims" not in readme
        return
    (second, replicas), *_ = changes
    assert changes == [(second, replicas)], changes  # one trim, then steady
    word = NUMBERS[replicas] + (" replica" if replicas == 1 else " replicas")
    assert f"trims {v1.name} to {word}" in readme
    assert f"{round(second / 60)}-minute scale-down window" in readme
