"""Reference data as users export it: a CSV with a byte order mark (Excel's "CSV UTF-8",
pandas' ``utf-8-sig``), duplicate column names, categorical columns and JSON lines."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from inferd.card import Signature, TensorSpec
from inferd.config import StoreSettings
from inferd.errors import InvalidArgument
from inferd.observe.profile import build_profile, read_reference_data
from inferd.packaging import push
from inferd.store import ModelStore

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"
SIGNATURE = Signature(inputs=(TensorSpec(name="input", datatype="FP32", shape=(-1, 8)),))
HEADER = [f"f{i}" for i in range(8)]


def _csv(path: Path, header: list[str], encoding: str = "utf-8") -> Path:
    rows = np.random.default_rng(4).random((50, 8))
    lines = [",".join(header)] + [",".join(f"{v:.4f}" for v in r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding=encoding)
    return path


def test_a_byte_order_mark_is_not_part_of_the_first_feature_name(tmp_path: Path) -> None:
    profile = read_reference_data(_csv(tmp_path / "t.csv", HEADER, "utf-8-sig"), SIGNATURE)
    assert [f.name for f in profile.inputs[0].features] == HEADER


def test_duplicate_column_names_are_refused(tmp_path: Path) -> None:
    # Each name becomes the feature label of a drift series: two columns named alike would
    # export two samples of one series.
    header = ["a", "a", *HEADER[2:]]
    with pytest.raises(InvalidArgument, match=r"twice: \['a'\]"):
        read_reference_data(_csv(tmp_path / "t.csv", header), SIGNATURE)


def test_duplicate_feature_names_in_a_metadata_profile_are_refused(inferd_home: Path) -> None:
    model = inferd_home.parent / "fraud-v1"
    shutil.copytree(QUICKSTART / "fraud-v1", model)
    rows = np.random.default_rng(5).random((100, 8))
    profile = build_profile({"input": rows}, feature_names={"input": ("x",) * 8})
    (model / "inferd.model.yaml").write_text(
        yaml.safe_dump({"reference_profile": profile.model_dump(mode="json")})
    )
    store = ModelStore.from_settings(StoreSettings(home=inferd_home))
    with pytest.raises(InvalidArgument, match=r"twice: \['x'\]"):
        push(store, model, "fraud:v1")
    assert store.list() == []


def test_a_categorical_column_is_named_with_its_value(tmp_path: Path) -> None:
    text = ",".join(HEADER) + "\n" + "1,2,3,4,5,6,7,8\n" + "1,2,3,paris,5,6,7,8\n"
    (tmp_path / "t.csv").write_text(text)
    with pytest.raises(InvalidArgument, match="line 3, column 'f3': 'paris' is not a number"):
        read_reference_data(tmp_path / "t.csv", SIGNATURE)


def test_json_lines_are_named_as_json(tmp_path: Path) -> None:
    (tmp_path / "t.jsonl").write_text('{"input": [1, 2, 3, 4, 5, 6, 7, 8]}\n' * 3)
    with pytest.raises(InvalidArgument, match=r"'t\.jsonl' looks like JSON.*CSV with a header"):
        read_reference_data(tmp_path / "t.jsonl", SIGNATURE)


def test_a_profile_of_a_bytes_input_is_refused(tmp_path: Path) -> None:
    # The live strings of a BYTES input are never binned: its drift would never be measured.
    signature = Signature(
        inputs=(
            TensorSpec(name="text", datatype="BYTES", shape=(-1,)),
            TensorSpec(name="amount", datatype="FP32", shape=(-1, 1)),
        )
    )
    lengths = np.random.default_rng(6).integers(1, 50, size=100)
    np.savez(tmp_path / "t.npz", text=lengths, amount=lengths.astype(np.float32)[:, None])
    with pytest.raises(InvalidArgument, match="'text', a BYTES input"):
        read_reference_data(tmp_path / "t.npz", signature)
    np.savez(tmp_path / "ok.npz", amount=lengths.astype(np.float32)[:, None])
    profile = read_reference_data(tmp_path / "ok.npz", signature)
    assert [i.name for i in profile.inputs] == ["amount"]


@pytest.mark.parametrize("name", ["t.npy", "t.npz", "t.csv"])
def test_a_model_without_declared_inputs_is_named_as_such(tmp_path: Path, name: str) -> None:
    # Not "the model has 0 inputs; use an .npz": an .npz would be refused as well.
    rows = np.random.default_rng(7).random((20, 8))
    if name == "t.npy":
        np.save(tmp_path / name, rows)
    elif name == "t.npz":
        np.savez(tmp_path / name, input=rows)
    else:
        _csv(tmp_path / name, HEADER)
    with pytest.raises(InvalidArgument, match="the model declares no inputs"):
        read_reference_data(tmp_path / name, Signature())


def test_a_pandas_index_column_is_named_as_such(tmp_path: Path) -> None:
    # df.to_csv("t.csv") writes the index as a first column with an empty name.
    text = "," + ",".join(HEADER) + "\n" + "0,1,2,3,4,5,6,7,8\n"
    (tmp_path / "t.csv").write_text(text)
    with pytest.raises(
        InvalidArgument, match=r"header column\(s\) \[1\] have no name.*index=False"
    ):
        read_reference_data(tmp_path / "t.csv", SIGNATURE)


def test_a_csv_without_a_header_does_not_lose_its_first_row_as_names(tmp_path: Path) -> None:
    rows = np.random.default_rng(8).normal(size=(5, 8))
    text = "".join(",".join(f"{v:.4f}" for v in row) + "\n" for row in rows)
    (tmp_path / "t.csv").write_text(text)
    with pytest.raises(InvalidArgument, match="the first line holds numbers, not column names"):
        read_reference_data(tmp_path / "t.csv", SIGNATURE)


def test_pandas_default_column_names_are_a_header(tmp_path: Path) -> None:
    # pd.DataFrame(array).to_csv(path, index=False) names the columns 0, 1, 2, …
    profile = read_reference_data(_csv(tmp_path / "t.csv", [str(i) for i in range(8)]), SIGNATURE)
    assert [f.name for f in profile.inputs[0].features] == [str(i) for i in range(8)]
    assert profile.rows == 50
