"""A scikit-learn model holding a type of its author's own runs that type's code in a sandbox
worker started as one of inferd's own (``builtin``), whose inferd errors the server raises
again as they are. The attributes of such an error come from the model's code, which the
server does not trust: they must not break the answer the client gets."""

from __future__ import annotations

import math
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import skops.io
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline

from inferd.card import ModelCard, Signature, TensorSpec
from inferd.errors import Code, InferdError, Unavailable
from inferd.protocols.http.messages import response_for_error
from inferd.runtimes import LoadOptions, get_runtime
from inferd.sandbox.model import SandboxedModel

#: A transformer of the model's own: it raises an inferd error whose attributes it chose.
TRANSFORMER = """
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from inferd import errors


class Spoofing(BaseEstimator, TransformerMixin):
    def fit(self, x, y=None):
        return self

    def transform(self, x):
        if getattr(self, "armed", False):
            error = errors.Unavailable("busy")
            error.retry_after = float("inf")
            error.code = "spoofed"
            error.message = "busy\\r\\nSet-Cookie: a=b"
            raise error
        return np.asarray(x)
"""


@pytest.fixture
def model(tmp_path: Path) -> Iterator[SandboxedModel]:
    (tmp_path / "spoofing.py").write_text(textwrap.dedent(TRANSFORMER))
    sys.path.insert(0, str(tmp_path))
    try:
        from spoofing import Spoofing  # type: ignore[import-not-found]

        x = np.arange(8, dtype=np.float32).reshape(4, 2)
        step = Spoofing()
        estimator = make_pipeline(step, LinearRegression()).fit(x, [0.0, 1.0, 2.0, 3.0])
        step.armed = True
        skops.io.dump(estimator, tmp_path / "model.skops")
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("spoofing", None)
    spec = TensorSpec(name="input", datatype="FP32", shape=(-1, 2))
    card = ModelCard(name="m", runtime="sklearn", signature=Signature(inputs=(spec,)))
    loaded = get_runtime("sklearn").load(tmp_path, card, LoadOptions(trust_code=True))
    assert isinstance(loaded, SandboxedModel)
    yield loaded
    loaded.close()


def test_an_error_of_the_models_own_code_keeps_its_class_status_and_a_finite_retry(
    model: SandboxedModel,
) -> None:
    with pytest.raises(InferdError) as raised:
        model.predict({"input": np.zeros((1, 2), dtype=np.float32)})
    error = raised.value
    assert type(error) is Unavailable
    assert error.code is Code.UNAVAILABLE  # not the "spoofed" the model set
    assert math.isfinite(error.retry_after)
    response = response_for_error(error)  # raised OverflowError on an infinite Retry-After
    assert response.status == 503
    assert dict(response.headers)[b"retry-after"] == b"1"
