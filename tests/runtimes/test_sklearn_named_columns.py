"""A pipeline fitted on a DataFrame whose ColumnTransformer picks its columns by name cannot run
on the matrix the sklearn runtime hands it (scikit-learn: "Specifying the columns using strings
is only supported for dataframes"): push refuses it and its load fails, both naming the columns
and what to do, where it used to load and fail every request with a 500."""

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
from inferd.config import StoreSettings
from inferd.errors import InvalidArgument
from inferd.packaging import push
from inferd.runtimes import LoadOptions, get_runtime
from inferd.store import ModelStore

NAMES = ["color", "amount", "age"]
ROWS = np.array([["red", 1.5, 30.0], ["green", -2.0, 41.0], ["blue", 0.5, 25.0]] * 4, object)
LABELS = ["fraud", "ok", "ok"] * 4


def by_name(directory: Path) -> Path:
    """What fitting on a DataFrame leaves (no DataFrame library is installed here): a fitted
    ColumnTransformer whose columns are names, with the DataFrame's ``feature_names_in_``."""
    encoders = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore"), [0]), ("num", StandardScaler(), [1, 2])]
    )
    pipeline = make_pipeline(encoders, LogisticRegression()).fit(ROWS, LABELS)
    by_names = [["color"], ["amount", "age"]]
    encoders.transformers = [(n, t, c) for (n, t, _), c in zip(encoders.transformers, by_names)]
    encoders.transformers_ = [
        (n, t, c) for (n, t, _), c in zip(encoders.transformers_, [*by_names, []])
    ]
    encoders.feature_names_in_ = np.array(NAMES, dtype=object)
    with pytest.raises(ValueError, match="only supported for dataframes"):
        pipeline.predict(ROWS)  # as the runtime would call it
    directory.mkdir()
    skops.io.dump(pipeline, directory / "model.skops")
    return directory


ADVICE = (
    "'model.skops' holds a Pipeline fitted on a DataFrame: its ColumnTransformer picks "
    "columns by name ('color', 'amount', 'age'), and the sklearn runtime hands it a matrix, "
    "whose columns have no names: pick them by position (e.g. [0] for the first column) and "
    "fit it again"
)


def test_its_load_fails_naming_the_columns(tmp_path: Path) -> None:
    signature = Signature(
        inputs=(TensorSpec(name="input", datatype="BYTES", shape=(-1, 3)),),
        outputs=(TensorSpec(name="label", datatype="BYTES", shape=(-1,)),),
    )
    card = ModelCard(name="m", runtime="sklearn", signature=signature, entrypoint="model.skops")
    with pytest.raises(InvalidArgument) as info:
        get_runtime("sklearn").load(by_name(tmp_path / "m"), card, LoadOptions())
    assert info.value.message.startswith(ADVICE)


def test_push_refuses_it_naming_the_columns(tmp_path: Path) -> None:
    store = ModelStore.from_settings(StoreSettings(home=tmp_path / "home"))
    with pytest.raises(InvalidArgument) as info:
        push(store, by_name(tmp_path / "m"), "m:v1")
    assert info.value.message.startswith(ADVICE)


def test_columns_picked_by_position_still_load(tmp_path: Path) -> None:
    encoders = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore"), [0]), ("num", StandardScaler(), [1, 2])]
    )
    pipeline = make_pipeline(encoders, LogisticRegression()).fit(ROWS, LABELS)
    (tmp_path / "m").mkdir()
    skops.io.dump(pipeline, tmp_path / "m" / "model.skops")
    card = ModelCard(name="m", runtime="sklearn", entrypoint="model.skops")
    model = get_runtime("sklearn").load(tmp_path / "m", card, LoadOptions())
    rows = ROWS.astype(str).astype(object)
    answer = model.predict({"input": rows})
    assert answer["label"].tolist() == pipeline.predict(ROWS).tolist()
