"""Reference profiles: computed from training rows, stored by push (npy, npz, CSV, YAML), never
from pickle, and cards without one still load."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from inferd.card import ModelCard, ReferenceProfile, Signature, TensorSpec
from inferd.cli import main
from inferd.config import StoreSettings
from inferd.errors import InvalidArgument
from inferd.observe.profile import MAX_FEATURES, build_profile, read_reference_data
from inferd.packaging import push
from inferd.store import ModelStore

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"
RNG = np.random.default_rng(3)
SIGNATURE = Signature(inputs=(TensorSpec(name="input", datatype="FP32", shape=(-1, 8)),))


def test_bins_are_quantiles_with_their_proportions() -> None:
    values = np.arange(1000, dtype=np.float64)
    feature = build_profile({"x": values}).inputs[0].features[0]
    # Deciles, cut at observed values: each bin holds a tenth of the rows, give or take one.
    assert len(feature.edges) == 9 and set(feature.edges) <= set(values)
    assert feature.edges == pytest.approx(np.linspace(100, 900, 9), abs=1)
    assert feature.proportions == pytest.approx([0.1] * 10, abs=0.0011)
    assert sum(feature.proportions) == pytest.approx(1.0)
    assert (feature.min, feature.max) == (0.0, 999.0)
    assert feature.mean == pytest.approx(499.5)
    assert feature.std == pytest.approx(values.std())


def test_few_distinct_values_merge_bins() -> None:
    values = np.array([0.0] * 700 + [1.0] * 300)
    feature = build_profile({"x": values}).inputs[0].features[0]
    assert feature.edges == (0.0, 1.0)
    assert feature.proportions == pytest.approx([0.0, 0.7, 0.3])


def test_profiles_stay_small_and_bounded() -> None:
    profile = build_profile({"input": RNG.normal(size=(50_000, 8))})
    assert profile.rows == 50_000
    assert len(profile.model_dump_json()) < 8_000
    with pytest.raises(InvalidArgument, match=f"at most {MAX_FEATURES}"):
        build_profile({"input": np.zeros((10, MAX_FEATURES + 1))})


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (np.array([[1.0, np.inf]]), "infinite"),
        (np.array([[1.0, np.nan]]), "missing \\(NaN\\) in every row"),
        (np.array([["a", "b"]]), "not numeric"),
        (np.zeros((0, 2)), "no rows"),
    ],
)
def test_unusable_rows_are_refused(rows: np.ndarray, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        build_profile({"input": rows})


def test_card_round_trip_and_old_cards() -> None:
    profile = build_profile({"input": RNG.normal(size=(500, 8))})
    card = ModelCard(name="fraud", runtime="onnx", signature=SIGNATURE, reference_profile=profile)
    again = ModelCard.model_validate_json(card.model_dump_json())
    assert again.reference_profile == profile
    old = json.loads(card.model_dump_json())
    del old["reference_profile"]
    assert ModelCard.model_validate(old).reference_profile is None
    old["reference_profile"] = None
    assert ModelCard.model_validate(old).reference_profile is None


@pytest.fixture
def store(inferd_home: Path) -> ModelStore:
    return ModelStore.from_settings(StoreSettings(home=inferd_home))


@pytest.fixture
def model(tmp_path: Path) -> Path:
    target = tmp_path / "fraud-v1"
    shutil.copytree(QUICKSTART / "fraud-v1", target)
    return target


def test_push_with_npy(store: ModelStore, model: Path, tmp_path: Path) -> None:
    rows = RNG.normal(size=(2_000, 8)).astype(np.float32)
    np.save(tmp_path / "train.npy", rows)
    pushed = push(store, model, "fraud:v1", reference_data=tmp_path / "train.npy")
    profile = store.resolve("fraud:v1").card.reference_profile
    assert profile is not None and profile == pushed.card.reference_profile
    assert profile.rows == 2_000
    assert [f.name for f in profile.inputs[0].features] == [str(i) for i in range(8)]
    # Untouched by the profile: files and runtime as before.
    assert pushed.card.runtime == "onnx"


def test_push_with_csv_names_features_by_header(
    store: ModelStore, model: Path, tmp_path: Path
) -> None:
    header = [f"f{i}" for i in range(8)]
    lines = [",".join(header)] + [",".join(f"{v:.4f}" for v in r) for r in RNG.random((300, 8))]
    (tmp_path / "train.csv").write_text("\n".join(lines) + "\n")
    push(store, model, "fraud:v1", reference_data=tmp_path / "train.csv")
    profile = store.resolve("fraud:v1").card.reference_profile
    assert profile is not None
    assert [f.name for f in profile.inputs[0].features] == header


def test_push_with_npz_keyed_by_input(store: ModelStore, model: Path, tmp_path: Path) -> None:
    np.savez(tmp_path / "train.npz", input=RNG.random((100, 8)))
    push(store, model, "fraud:v1", reference_data=tmp_path / "train.npz")
    assert store.resolve("fraud:v1").card.reference_profile is not None
    np.savez(tmp_path / "wrong.npz", other=RNG.random((100, 8)), input=RNG.random((100, 8)))
    with pytest.raises(InvalidArgument, match="not inputs of the model"):
        push(store, model, "fraud:v2", reference_data=tmp_path / "wrong.npz")


def test_pickle_bearing_npy_is_refused(store: ModelStore, model: Path, tmp_path: Path) -> None:
    sentinel = tmp_path / "sentinel"
    # An object array is saved with pickle; loading it would run pickle.
    np.save(tmp_path / "evil.npy", np.array([{"x": str(sentinel)}], dtype=object))
    with pytest.raises(InvalidArgument, match="pickled objects are refused"):
        push(store, model, "fraud:v1", reference_data=tmp_path / "evil.npy")
    assert store.list() == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b\n1,2\n", "2 features for input 'input', whose last dimension is 8"),
        ("a,b,c,d,e,f,g,h\n", "no data rows"),
        ("1,2,3,4,5,6,7,8\n1,2,3,4,5,6,7,8\n", "the first line holds numbers, not column names"),
        (",,,,,,,\n1,2,3,4,5,6,7,8\n", "header row"),
        ("a,b,c,d,e,f,g,h\n1,2,3,4,5,6,7\n", "line 2: 7 values for 8 columns"),
        ("a,b,c,d,e,f,g,h\n1,2,3,4,5,6,7,x\n", "line 2, column 'h': 'x' is not a number"),
        ("a;b;c;d;e;f;g;h\n1;2;3;4;5;6;7;8\n", "separated by ';', not commas"),
        ("a\tb\tc\td\te\tf\tg\th\n1\t2\t3\t4\t5\t6\t7\t8\n", "separated by '\\\\t', not commas"),
    ],
)
def test_bad_csv_names_the_problem(text: str, message: str, tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_text(text)
    with pytest.raises(InvalidArgument, match=message) as caught:
        read_reference_data(tmp_path / "train.csv", SIGNATURE)
    assert str(tmp_path) not in caught.value.message


def test_blank_lines_before_the_header_are_skipped(tmp_path: Path) -> None:
    rows = "\n".join(",".join(str(i + j) for j in range(8)) for i in range(20))
    (tmp_path / "train.csv").write_text("\n\na,b,c,d,e,f,g,h\n" + rows + "\n")
    profile = read_reference_data(tmp_path / "train.csv", SIGNATURE)
    assert profile.rows == 20
    assert [f.name for f in profile.inputs[0].features] == list("abcdefgh")
    (tmp_path / "bad.csv").write_text("\n\na,b,c,d,e,f,g,h\n1,2,3,4,5,6,7,8\n1,2,3,4,5,6,7,x\n")
    with pytest.raises(InvalidArgument, match="line 5, column 'h'"):
        read_reference_data(tmp_path / "bad.csv", SIGNATURE)


def test_profile_from_inferd_model_yaml(store: ModelStore, model: Path) -> None:
    profile = build_profile({"input": RNG.random((100, 8))})
    (model / "inferd.model.yaml").write_text(
        yaml.safe_dump({"reference_profile": profile.model_dump(mode="json")})
    )
    push(store, model, "fraud:v1")
    assert store.resolve("fraud:v1").card.reference_profile == profile

    wrong = build_profile({"other": RNG.random((100, 8))})
    (model / "inferd.model.yaml").write_text(
        yaml.safe_dump({"reference_profile": wrong.model_dump(mode="json")})
    )
    with pytest.raises(InvalidArgument, match="'other', which is not an input"):
        push(store, model, "fraud:v2")


def test_cli_push_reference_data(inferd_home: Path, model: Path, tmp_path: Path) -> None:
    np.save(tmp_path / "train.npy", RNG.random((200, 8)))
    runner = CliRunner()
    pushed = runner.invoke(
        main, ["push", str(model), "fraud:v1", "--reference-data", str(tmp_path / "train.npy")]
    )
    assert pushed.exit_code == 0, pushed.output
    assert "reference profile of 200 rows" in pushed.stderr
    as_json = runner.invoke(main, ["push", str(model), "fraud:v0", "--json"])
    assert json.loads(as_json.stdout)["reference_rows"] is None
    shown = runner.invoke(main, ["inspect", "fraud:v1", "--json"])
    card = json.loads(shown.stdout)["card"]
    assert ReferenceProfile.model_validate(card["reference_profile"]).rows == 200

    np.save(tmp_path / "evil.npy", np.array([object()], dtype=object))
    refused = runner.invoke(
        main, ["push", str(model), "fraud:v2", "--reference-data", str(tmp_path / "evil.npy")]
    )
    assert refused.exit_code != 0
    assert "pickled objects are refused" in refused.output


def test_inputs_of_different_row_counts_are_named_with_their_counts() -> None:
    with pytest.raises(InvalidArgument) as caught:
        build_profile({"a": np.zeros((10, 2)), "b": np.zeros((12, 3)), "c": np.zeros(10)})
    assert caught.value.message == (
        "reference data inputs have different numbers of rows: 'a' 10, 'b' 12, 'c' 10 "
        "(each input's first axis is its rows)"
    )


def test_a_csv_without_a_header_whose_first_row_misses_a_value(tmp_path: Path) -> None:
    # Now that an empty field is a missing value, a headerless first row may hold one.
    (tmp_path / "t.csv").write_text("0.5,,1.5,2,3,4,5,6\n1,2,3,4,5,6,7,8\n")
    with pytest.raises(InvalidArgument, match="the first line holds numbers, not column names"):
        read_reference_data(tmp_path / "t.csv", SIGNATURE)
