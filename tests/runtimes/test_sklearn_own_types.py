"""A skops file holding a type of its author's own (a transformer written for the model),
trusted, loads where the type's module comes with the model, as a python model's modules do;
where it comes from nowhere the load names the module, not inferd's worker class."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest
import skops.io
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from inferd.card import ModelCard
from inferd.errors import InvalidArgument
from inferd.runtimes import LoadOptions, get_runtime

MODULE = "inferd_test_doubler"


@pytest.fixture
def fitted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, object, np.ndarray]:
    """A pipeline of the author's ``Doubler`` and a classifier, dumped in ``tmp_path/model``;
    its module is in ``tmp_path/src``, imported here only."""
    source = tmp_path / "src"
    source.mkdir()
    (source / f"{MODULE}.py").write_text(
        textwrap.dedent(
            """
            import numpy as np
            from sklearn.base import BaseEstimator, TransformerMixin

            class Doubler(BaseEstimator, TransformerMixin):
                def fit(self, X, y=None):
                    return self

                def transform(self, X):
                    return np.asarray(X, dtype=float) * 2
            """
        )
    )
    monkeypatch.syspath_prepend(str(source))
    doubler = __import__(MODULE).Doubler
    monkeypatch.delitem(__import__("sys").modules, MODULE)
    x = np.random.default_rng(0).normal(size=(40, 3))
    estimator = make_pipeline(doubler(), LogisticRegression()).fit(x, (x[:, 0] > 0).astype(int))
    model = tmp_path / "model"
    model.mkdir()
    skops.io.dump(estimator, model / "model.skops")
    return model, estimator, x[:5]


def test_a_module_shipped_with_the_model_is_found(
    tmp_path: Path, fitted: tuple[Path, object, np.ndarray]
) -> None:
    model, estimator, rows = fitted
    shutil.copy(tmp_path / "src" / f"{MODULE}.py", model)
    card = ModelCard(name="m", runtime="sklearn")
    loaded = get_runtime("sklearn").load(model, card, LoadOptions(trust_code=True))
    try:
        answer = loaded.predict({"input": rows})
    finally:
        loaded.close()
    np.testing.assert_allclose(answer["probabilities"], estimator.predict_proba(rows))  # type: ignore[attr-defined]


def test_a_module_found_nowhere_is_named(fitted: tuple[Path, object, np.ndarray]) -> None:
    model, _, _ = fitted
    card = ModelCard(name="m", runtime="sklearn")
    with pytest.raises(InvalidArgument) as info:
        get_runtime("sklearn").load(model, card, LoadOptions(trust_code=True))
    assert info.value.message == (
        f"'model.skops' holds {MODULE}.Doubler, whose module {MODULE!r} is neither installed "
        f"where the server runs nor in the model (ship {MODULE}.py beside model.skops)"
    )
