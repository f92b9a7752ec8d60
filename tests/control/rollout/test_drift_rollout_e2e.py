"""Input drift decides a rollout end to end: a real `inferd up`, real replicas exporting
``inferd_input_drift_psi``, the controller reading it through the gateway.

The load sends features uniform in [0, 1). ``fraud:profiled`` was profiled on such rows and is
promoted with drift measured and passing; ``fraud:drifted`` was profiled on rows shifted by 2,
so the same load is far from its training data and it is rolled back on ``drift_psi``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from inferd.packaging import push

from ..conftest import QUICKSTART, UpProcess, fraud_store, start_up
from .conftest import spec_text
from .test_rollout_e2e import apply, events, roll_out_under_load, weights

pytestmark = pytest.mark.slow

ANALYSIS = "{max_error_rate: 0.01, max_drift_psi: 0.2, min_requests: 500}"
#: 500 requests at a 20% step take longer than ten 300ms intervals on a busy machine.
DEADLINE = "1m"


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpProcess]:
    root = tmp_path_factory.mktemp("drift-rollout")
    home = root / "home"
    store = fraud_store(home)
    rows = np.random.default_rng(5).random((5_000, 8))
    for name, shift in (("profiled", 0.0), ("drifted", 2.0)):
        data = root / f"{name}.npy"
        np.save(data, rows + shift)
        push(store, QUICKSTART / "fraud-v2", f"fraud:{name}", reference_data=data)
    spec = root / "inferd.yaml"
    spec.write_text(spec_text("fraud:profiled", analysis=ANALYSIS, progress_deadline=DEADLINE))
    running = start_up(home, spec)
    yield running
    assert running.stop() == 0


def _drift_checks(up: UpProcess, rollout_id: str) -> list[dict[str, object]]:
    return [
        check
        for event in events(up, rollout_id)
        if "verdict" in event
        for check in event["verdict"]["checks"]
        if check["metric"] == "drift_psi"
    ]


def test_in_distribution_candidate_is_promoted_with_drift_measured(up: UpProcess) -> None:
    apply(up, spec_text("fraud:profiled", analysis=ANALYSIS, progress_deadline=DEADLINE))
    status, _, _ = roll_out_under_load(up)
    assert status["phase"] == "promoted", status
    measured = [c for c in _drift_checks(up, status["id"]) if c["value"] is not None]
    assert measured and all(c["passed"] is True for c in measured), measured


def test_drifted_candidate_is_rolled_back(up: UpProcess) -> None:
    apply(up, spec_text("fraud:drifted", analysis=ANALYSIS, progress_deadline=DEADLINE))
    status, statuses, _ = roll_out_under_load(up)
    assert status["phase"] == "rolled_back", status
    assert weights(up) == {"v1": 100, "v2": 0}
    last = events(up, status["id"])[-1]
    (drift,) = [c for c in last["verdict"]["checks"] if c["metric"] == "drift_psi"]
    assert drift["passed"] is False and drift["value"] > 1.0, drift
    assert set(statuses) == {"200"}, statuses  # drift fails the version, not the requests
