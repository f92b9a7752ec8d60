"""Which of scikit-learn's errors are the client's: a category a strict encoder was not fitted
on is (InvalidTensor, a 400 naming the column and value); any other stays the model's. These
pipelines hold types skops does not trust, so they run in a sandbox worker under code trust:
what holds in the server's process must hold across the worker's socket too."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import skops.io
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

from inferd.card import ModelCard, Signature, TensorSpec
from inferd.errors import InferdError, InvalidTensor, ModelRaised
from inferd.runtimes import LoadOptions, get_runtime
from inferd.runtimes.base import Model

ROWS = np.array([["red", "small"], ["green", "large"], ["blue", "small"]] * 4, dtype=object)
LABELS = [1, 0, 0] * 4
ITEM = TensorSpec(name="item", datatype="BYTES", shape=(-1, 2))


Loader = Callable[[object], Model]


@pytest.fixture
def load(tmp_path: Path) -> Iterator[Loader]:
    """Dump an estimator, load it trusted; closed (its worker stopped) after the test."""
    opened: list[Model] = []

    def loader(estimator: object) -> Model:
        skops.io.dump(estimator, tmp_path / "model.skops")
        card = ModelCard(name="m", runtime="sklearn", signature=Signature(inputs=(ITEM,)))
        opened.append(get_runtime("sklearn").load(tmp_path, card, LoadOptions(trust_code=True)))
        return opened[-1]

    yield loader
    for model in opened:
        model.close()


def _rows(*rows: list[bytes]) -> dict[str, np.ndarray]:
    array = np.empty((len(rows), 2), dtype=object)
    array[:] = rows
    return {"item": array}


def test_an_unknown_category_names_the_input_column_and_value(load: Loader) -> None:
    encoders = ColumnTransformer(
        [
            ("size", OrdinalEncoder(handle_unknown="error"), [1]),
            ("color", OneHotEncoder(handle_unknown="error"), [0]),
        ]
    )
    model = load(make_pipeline(encoders, LogisticRegression()).fit(ROWS, LABELS))
    assert model.predict(_rows([b"red", b"small"]))["label"].tolist() == [1]
    with pytest.raises(InvalidTensor) as caught:
        model.predict(_rows([b"red", b"small"], [b"purple", b"small"], [b"pink", b"large"]))
    assert caught.value.message == (
        "tensor 'item': column 0 holds 'purple', 'pink', not among the categories the model "
        "was fitted on there ('blue', 'green', 'red')"
    )


def test_any_other_value_error_is_the_models_own(load: Loader) -> None:
    """A neighbours model asking for more neighbours than it was fitted on fails every
    request: the model's own error (a 500, the ValueError's details in the log)."""
    knn = make_pipeline(OneHotEncoder(handle_unknown="ignore"), KNeighborsClassifier(3))
    knn.fit(ROWS, LABELS).set_params(kneighborsclassifier__n_neighbors=50)
    model = load(knn)
    # Trusted, it runs in a sandbox worker: its own exception comes back as ModelRaised, which
    # the batcher answers as a 500 (no InferdError: nothing of it reaches the client).
    with pytest.raises(ModelRaised, match="ValueError") as caught:
        model.predict(_rows([b"red", b"small"]))
    assert not isinstance(caught.value, InferdError)
