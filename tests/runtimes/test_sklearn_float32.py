"""KMeans fitted on float64 refuses float32 rows (Buffer dtype mismatch): push declared no
signature for it (it answered no FP32 row of zeros), so every request went unchecked and an FP32
one was a 500. Push now declares the input FP64 where the estimator takes only that."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skops.io
from sklearn.cluster import KMeans, MiniBatchKMeans

from inferd.card import ModelCard, Signature, TensorSpec
from inferd.packaging import push
from inferd.runtimes import LoadOptions, get_runtime
from inferd.store import ModelStore

ROWS = np.random.default_rng(4).normal(size=(40, 3))


def _pushed(inferd_home: Path, tmp_path: Path, estimator: KMeans) -> ModelCard:
    skops.io.dump(estimator, tmp_path / "model.skops")
    return push(ModelStore(inferd_home), tmp_path / "model.skops", "segments:v1").card


@pytest.mark.parametrize("kind", [KMeans, MiniBatchKMeans])
def test_kmeans_fitted_on_float64_gets_an_fp64_input(
    inferd_home: Path, tmp_path: Path, kind: type[KMeans]
) -> None:
    estimator = kind(n_clusters=2, n_init=1, random_state=0).fit(ROWS)
    card = _pushed(inferd_home, tmp_path, estimator)
    assert card.signature == Signature(
        inputs=(TensorSpec(name="input", datatype="FP64", shape=(-1, 3)),),
        outputs=(TensorSpec(name="predictions", datatype="INT32", shape=(-1,)),),
    )
    model = get_runtime("sklearn").load(tmp_path, card, LoadOptions())
    answer = model.predict({"input": ROWS[:5]})["predictions"]
    assert answer.tolist() == estimator.predict(ROWS[:5]).tolist()


def test_kmeans_fitted_on_float32_keeps_an_fp32_input(inferd_home: Path, tmp_path: Path) -> None:
    estimator = KMeans(n_clusters=2, n_init=1, random_state=0).fit(ROWS.astype(np.float32))
    card = _pushed(inferd_home, tmp_path, estimator)
    assert card.signature.inputs == (TensorSpec(name="input", datatype="FP32", shape=(-1, 3)),)
