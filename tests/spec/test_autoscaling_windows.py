"""Autoscaling windows: panic mode reacts to bursts the stable window averages away, so a
panic window longer than the stable window (accepted before, making panic mode the slower of
the two) is refused at its line, naming both."""

from __future__ import annotations

import pytest

from inferd.spec.loading import SpecError, parse_spec

from .conftest import ONE_DEPLOYMENT

HEAD = ONE_DEPLOYMENT


def test_a_panic_window_longer_than_the_stable_window_is_refused() -> None:
    document = HEAD + "    autoscaling: {stable_window: 6s, panic_window: 60s}\n"
    with pytest.raises(SpecError) as caught:
        parse_spec(document, "inferd.yaml")
    (problem,) = caught.value.problems
    assert problem.line == 6
    assert "deployments[0].autoscaling.panic_window:" in str(caught.value)
    assert problem.message.startswith("panic_window (60 s) is longer than stable_window (6 s)")


@pytest.mark.parametrize("windows", ["{}", "{stable_window: 6s, panic_window: 6s}"])
def test_a_panic_window_up_to_the_stable_window_is_taken(windows: str) -> None:
    spec = parse_spec(HEAD + f"    autoscaling: {windows}\n", "inferd.yaml")
    scaling = spec.deployments[0].autoscaling
    assert scaling is not None and scaling.panic_window <= scaling.stable_window
