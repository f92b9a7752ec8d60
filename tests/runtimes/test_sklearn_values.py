"""A scikit-learn model reading strings and numbers from one BYTES input: the warm-up and the
example request put a number where a ColumnTransformer reads numbers, and values it refuses
(a string that is no number, NaN, infinity) are the client's mistake, named, not a 500."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skops.io
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from inferd.card import ModelCard, Signature, TensorSpec
from inferd.errors import InvalidTensor
from inferd.runtimes import LoadOptions, get_runtime
from inferd.runtimes.base import Model
from inferd.runtimes.warmup import (
    example_request,
    model_known_values,
    unknown_strings,
    warmup_inputs,
)

ROWS = np.array([["red", "1.5", "3"], ["green", "-2", "1"], ["blue", "0.5", "2"]] * 4, dtype=object)
LABELS = [1, 0, 0] * 4
ITEM = TensorSpec(name="item", datatype="BYTES", shape=(-1, 3))
SIGNATURE = Signature(inputs=(ITEM,))


def _load(tmp_path: Path, estimator: object) -> Model:
    skops.io.dump(estimator, tmp_path / "model.skops")
    card = ModelCard(name="m", runtime="sklearn", signature=SIGNATURE)
    return get_runtime("sklearn").load(tmp_path, card, LoadOptions(trust_code=True))


def _mixed(tmp_path: Path, **column_transformer: object) -> Model:
    """A strict encoder on column 0, numbers in columns 1 and 2 (scaled, or passed through)."""
    columns = ColumnTransformer(
        [("color", OneHotEncoder(handle_unknown="error"), [0]), ("n", StandardScaler(), [1])],
        **column_transformer,  # type: ignore[arg-type]
    )
    return _load(tmp_path, make_pipeline(columns, LogisticRegression()).fit(ROWS, LABELS))


def _rows(*rows: list[str]) -> dict[str, np.ndarray]:
    array = np.empty((len(rows), 3), dtype=object)
    array[:] = [[v.encode() for v in row] for row in rows]
    return {"item": array}


@pytest.mark.parametrize("remainder", ["passthrough", "drop"])
def test_the_warm_up_and_example_put_a_number_where_numbers_are_read(
    tmp_path: Path, remainder: str
) -> None:
    """The empty string was put in every column no encoder reads: StandardScaler refused it
    (could not convert string to float: ''), so the model served without a warm-up and the
    curl `inferd serve` printed was a 500."""
    model = _mixed(tmp_path, remainder=remainder)
    known = model_known_values(model)
    assert known == {"item": ("blue", "0", "0")}
    assert unknown_strings(SIGNATURE, known) == []
    assert model.predict(warmup_inputs(SIGNATURE, 1, known))["label"].shape == (1,)
    (item,) = example_request(SIGNATURE, rows=2, known=known)["inputs"]
    assert item["data"] == ["blue", "0", "0"] * 2


@pytest.mark.parametrize(
    ("row", "says"),
    [
        (
            ["red", "abc", "1"],
            "tensor 'item': column 1 holds 'abc', not a number (the model reads numbers there)",
        ),
        (
            ["red", "1", "nan"],
            "tensor 'item': row 1, column 2 holds 'nan', which the model does not take "
            "(scikit-learn: Input X contains NaN.)",
        ),
        (
            ["red", "inf", "1"],
            "tensor 'item': row 1, column 1 holds 'inf', which the model does not take "
            "(scikit-learn: Input X contains infinity or a value too large for "
            "dtype('float64').)",
        ),
    ],
    ids=["not a number", "nan", "infinity"],
)
def test_a_value_the_model_cannot_read_is_the_clients_mistake(
    tmp_path: Path, row: list[str], says: str
) -> None:
    """These were ValueErrors from scikit-learn, served as 500 "see the server log"."""
    model = _mixed(tmp_path, remainder="passthrough")
    with pytest.raises(InvalidTensor) as caught:
        model.predict(_rows(["blue", "1", "2"], row))
    assert caught.value.message == says


def test_nan_in_a_number_matrix_names_where(tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    skops.io.dump(LogisticRegression().fit(x, [0, 1] * 10), tmp_path / "model.skops")
    spec = TensorSpec(name="input", datatype="FP32", shape=(-1, 3))
    card = ModelCard(name="m", runtime="sklearn", signature=Signature(inputs=(spec,)))
    model = get_runtime("sklearn").load(tmp_path, card, LoadOptions())
    rows = np.zeros((2, 3), dtype=np.float32)
    rows[1, 2] = np.nan
    with pytest.raises(InvalidTensor) as caught:
        model.predict({"input": rows})
    assert caught.value.message == (
        "tensor 'input': row 1, column 2 holds nan, which the model does not take "
        "(scikit-learn: Input X contains NaN.)"
    )


def test_a_matrix_of_another_width_is_the_clients_mistake(tmp_path: Path) -> None:
    """A card declaring no inputs (push derives none for types skops does not trust, such as a
    random forest's trees) checks no width: scikit-learn's refusal was a 500."""
    x = np.random.default_rng(0).normal(size=(20, 4))
    skops.io.dump(LogisticRegression().fit(x, [0, 1] * 10), tmp_path / "model.skops")
    card = ModelCard(name="m", runtime="sklearn")
    model = get_runtime("sklearn").load(tmp_path, card, LoadOptions())
    with pytest.raises(InvalidTensor) as caught:
        model.predict({"input": np.zeros((1, 3))})
    assert caught.value.message == (
        "tensor 'input': X has 3 features, but LogisticRegression is expecting 4 features as input"
    )
