"""A skops file holding types skops does not trust by default (any tree model's ``Tree``) is
refused without code trust saying how to give it, as the python runtime's refusal does, not
only that "explicit code trust" is needed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skops.io
from sklearn.ensemble import RandomForestClassifier

from inferd.card import ModelCard
from inferd.errors import PermissionDenied
from inferd.runtimes import LoadOptions, get_runtime


def test_the_refusal_says_how_to_trust(tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(20, 3))
    forest = RandomForestClassifier(n_estimators=2, random_state=0).fit(x, [0, 1] * 10)
    skops.io.dump(forest, tmp_path / "model.skops")
    card = ModelCard(name="churn", runtime="sklearn")
    with pytest.raises(PermissionDenied) as info:
        get_runtime("sklearn").load(tmp_path, card, LoadOptions())
    assert info.value.message == (
        "'model.skops' contains types skops does not trust by default (sklearn.tree._tree.Tree), "
        "and loading them runs their code; it loads only when code is explicitly trusted: "
        "serve it with `inferd serve … --trust-code churn` (every version) or "
        "`--trust-code churn:TAG` (one tag), or set `trust_code: true` on its version in "
        "inferd.yaml; each trusted load is recorded in the store history "
        "(`inferd history churn`)"
    )
