"""Missing values (NaN) are their own category: the reference profile counts each feature's
missing share, live NaN count in that same bucket (never the lowest bin), and PSI and KS take it
as one more bin, so a jump in the missing rate reads as drift and the training data reads none."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from inferd.card import FeatureProfile, ModelCard, ReferenceProfile, Signature, TensorSpec
from inferd.errors import InvalidArgument
from inferd.observe.drift import DriftMonitor, ks, psi
from inferd.observe.profile import build_profile, read_reference_data

RNG = np.random.default_rng(11)
SIGNATURE = Signature(inputs=(TensorSpec(name="input", datatype="FP32", shape=(-1, 3)),))


def _with_missing(rows: np.ndarray, share: float) -> np.ndarray:
    holed = rows.copy()
    holed[RNG.random(rows.shape) < share] = np.nan
    return holed


def _feed(monitor: DriftMonitor, rows: np.ndarray) -> None:
    for start in range(0, len(rows), 64):
        monitor.observe({"input": rows[start : start + 64]})


def test_reference_counts_missing_share_and_profiles_the_present_values() -> None:
    values = np.arange(1000, dtype=np.float64)
    holed = values.copy()
    holed[::4] = np.nan  # a quarter missing
    feature = build_profile({"x": holed}).inputs[0].features[0]
    present = values[~np.isnan(holed)]
    assert feature.missing == pytest.approx(0.25)
    # Bins, shares and moments describe the values that are there.
    assert sum(feature.proportions) == pytest.approx(1.0)
    assert feature.proportions == pytest.approx([0.1] * 10, abs=0.0015)
    assert (feature.min, feature.max) == (1.0, 999.0)
    assert feature.mean == pytest.approx(present.mean())
    assert feature.std == pytest.approx(present.std())


def test_a_feature_with_no_values_or_infinite_values_is_named() -> None:
    rows = RNG.normal(size=(50, 3))
    rows[:, 1] = np.nan
    with pytest.raises(InvalidArgument, match="feature '1' of input 'input' is missing"):
        build_profile({"input": rows})
    rows = RNG.normal(size=(50, 3))
    rows[[3, 7], 2] = [np.inf, -np.inf]
    with pytest.raises(InvalidArgument, match=r"feature '2' of input 'input' holds 2 infinite"):
        build_profile({"input": rows})


def test_training_data_with_missing_values_reads_no_drift() -> None:
    train = _with_missing(RNG.normal(size=(20_000, 3)), 0.2)
    monitor = DriftMonitor(build_profile({"input": train}))
    _feed(monitor, _with_missing(RNG.normal(size=(5_000, 3)), 0.2).astype(np.float32))
    drift = monitor.drift()
    assert len(drift) == 3
    for d in drift:
        assert d.psi < 0.02, d
        assert d.ks < 0.03, d


def test_a_jump_in_missing_rate_is_drift_and_not_a_shift_of_the_lowest_bin() -> None:
    profile = build_profile({"input": RNG.normal(size=(20_000, 3))})
    monitor = DriftMonitor(profile, min_samples=1)
    live = RNG.normal(size=(4_000, 3))
    live[:1_000, 0] = np.nan  # a quarter of feature 0 goes missing
    _feed(monitor, live)
    by_feature = {d.feature: d for d in monitor.drift()}
    assert by_feature["0"].psi > 0.2
    assert by_feature["1"].psi < 0.05 and by_feature["2"].psi < 0.05
    # The missing quarter is its own bin: the present values keep their reference shares.
    feature = profile.inputs[0].features[0]
    present = live[1_000:, 0]
    bins = np.searchsorted(np.asarray(feature.edges), present, side="right")
    shares = np.append(np.bincount(bins, minlength=len(feature.proportions)), 1_000) / 4_000
    reference = np.append(feature.proportions, 0.0)
    assert by_feature["0"].psi == pytest.approx(psi(reference, shares))
    assert by_feature["0"].ks == pytest.approx(ks(reference, shares))
    assert by_feature["0"].ks == pytest.approx(0.25, abs=0.03)


def test_profiles_written_before_missing_counts_load_as_none_missing() -> None:
    # A card's profile as inferd wrote it before missing values were counted: no "missing" key.
    old = {
        "rows": 4,
        "inputs": [
            {
                "name": "input",
                "features": [
                    {
                        "name": "0",
                        "edges": [1.0],
                        "proportions": [0.5, 0.5],
                        "mean": 1.0,
                        "std": 0.5,
                        "min": 0.5,
                        "max": 1.5,
                    }
                ],
            }
        ],
    }
    card = ModelCard(name="m", runtime="onnx", signature=SIGNATURE)
    stored = json.loads(card.model_dump_json()) | {"reference_profile": old}
    profile = ModelCard.model_validate_json(json.dumps(stored)).reference_profile
    assert profile is not None and profile.inputs[0].features[0].missing == 0.0
    # A profile without missing values is written as before, so its card digest is unchanged.
    assert json.loads(profile.model_dump_json()) == old
    monitor = DriftMonitor(profile, min_samples=1)
    monitor.observe({"input": np.array([[np.nan], [0.7], [1.2], [np.nan]])})
    (drift,) = monitor.drift()
    assert drift.psi == pytest.approx(psi(np.array([0.5, 0.5, 0.0]), np.array([0.25, 0.25, 0.5])))


def test_missing_share_round_trips_and_is_checked() -> None:
    profile = build_profile({"input": _with_missing(RNG.normal(size=(500, 3)), 0.1)})
    assert ReferenceProfile.model_validate_json(profile.model_dump_json()) == profile
    with pytest.raises(ValueError, match="missing"):
        FeatureProfile(
            name="x", edges=(), proportions=(1.0,), mean=0, std=0, min=0, max=0, missing=1.5
        )
    # Shares of all rows (as some tools write them) are named for what they should be.
    with pytest.raises(ValueError, match="shares of the rows with a value, so missing ones apart"):
        FeatureProfile(
            name="x",
            edges=(0.0,),
            proportions=(0.4, 0.4),
            mean=0,
            std=1,
            min=-1,
            max=1,
            missing=0.2,
        )


@pytest.mark.parametrize("marker", ["", "NA", "nan", "NaN", "null", "N/A", "<NA>"])
def test_csv_empty_and_na_fields_are_missing(marker: str, tmp_path: Path) -> None:
    lines = ["a,b,c"] + [f"{i},{i % 7},{marker if i % 5 == 0 else i}" for i in range(100)]
    (tmp_path / "train.csv").write_text("\n".join(lines) + "\n")
    profile = read_reference_data(tmp_path / "train.csv", SIGNATURE)
    assert [f.missing for f in profile.inputs[0].features] == [0.0, 0.0, 0.2]
