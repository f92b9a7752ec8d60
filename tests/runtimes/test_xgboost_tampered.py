"""A tampered XGBoost model file (one tree's left_children[0] set to 999) loaded fine, and its
first prediction killed the process with a segmentation fault: the server and every model it
served. Its trees are now checked, JSON and UBJSON alike, at push and at load, and a model
whose nodes point outside its tree is refused naming the tree and the node. Each tampered
model is tried in a child process, so a check that lets one through fails the test, not the
test run."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xgboost as xgb

from inferd.card import ModelCard
from inferd.errors import InvalidArgument
from inferd.runtimes import LoadOptions, get_runtime
from inferd.runtimes._ubjson import UbjsonError, loads
from inferd.runtimes._xgboost_trees import check_model

Tamper = Callable[[dict[str, Any]], None]


@pytest.fixture(scope="module")
def booster() -> Any:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4)).astype(np.float32)
    y = (x[:, 0] - x[:, 1] > 0).astype(np.int64)
    params = {"objective": "binary:logistic", "max_depth": 3}
    return xgb.train(params, xgb.DMatrix(x, label=y), 3)


def _model(document: dict[str, Any]) -> dict[str, Any]:
    model: dict[str, Any] = document["learner"]["gradient_booster"]["model"]
    return model


def _tree(document: dict[str, Any], index: int = 1) -> dict[str, Any]:
    tree: dict[str, Any] = _model(document)["trees"][index]
    return tree


def _set(key: str, node: int, value: int) -> Tamper:
    return lambda document: _tree(document)[key].__setitem__(node, value)


def _cycle(document: dict[str, Any]) -> None:
    tree = _tree(document)
    leaf = tree["left_children"].index(-1)
    tree["left_children"][leaf], tree["right_children"][leaf] = 1, 2


TAMPERED: dict[str, tuple[Tamper, str]] = {
    "child": (_set("left_children", 0, 999), "tree 1: node 0 has child 999, of "),
    "negative": (_set("right_children", 0, -7), "tree 1: node 0 has child -7, of "),
    "root": (_set("left_children", 0, 0), "tree 1: node 0 has child 0, of "),
    "cycle": (_cycle, "a second time (a cycle)"),
    "feature": (_set("split_indices", 0, 10**6), "node 0 splits on feature 1000000, of 4"),
    "group": (
        lambda document: _model(document)["tree_info"].__setitem__(1, 7),
        "tree 1 is for output group 7, of 1",
    ),
}

CHILD = """
import sys
from pathlib import Path
from inferd.card import ModelCard
from inferd.errors import InvalidArgument
from inferd.packaging import push
from inferd.runtimes import LoadOptions, get_runtime
from inferd.store import ModelStore

folder = Path(sys.argv[1])
try:
    push(ModelStore(folder.parent / "home"), folder, "m:v1")
except InvalidArgument as exc:
    print("push:", exc.message)
card = ModelCard(name="m", runtime="xgboost")
try:
    model = get_runtime("xgboost").load(folder, card, LoadOptions())
except InvalidArgument as exc:
    print("load:", exc.message)
else:
    import numpy as np
    model.predict({"input": np.zeros((2, 4), np.float32)})
    print("predicted")
"""


def _tried(folder: Path) -> list[str]:
    """What push and load of ``folder`` said, in a child process (a crash fails the test)."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CHILD), str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    return done.stdout.splitlines()


@pytest.mark.parametrize("case", sorted(TAMPERED))
def test_a_tampered_json_model_is_refused_at_push_and_load(
    tmp_path: Path, booster: Any, case: str
) -> None:
    tamper, expected = TAMPERED[case]
    document = json.loads(bytes(booster.save_raw("json")))
    tamper(document)
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.json").write_text(json.dumps(document))
    push_line, load_line = _tried(folder)
    assert push_line.startswith("push: 'model.json' is not a valid XGBoost model: ")
    assert load_line.startswith("load: 'model.json' is not a valid XGBoost model: ")
    assert expected in push_line and expected in load_line


def test_a_tampered_ubjson_model_is_refused_at_push_and_load(tmp_path: Path, booster: Any) -> None:
    """left_children[0] of the first tree, a big-endian int32 in a typed array, set to 999."""
    data = bytearray(booster.save_raw("ubj"))
    start = data.index(b"left_children[$l#L") + len(b"left_children[$l#L") + 8
    data[start : start + 4] = (999).to_bytes(4, "big", signed=True)
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.ubj").write_bytes(bytes(data))
    nodes = len(
        json.loads(bytes(booster.save_raw("json")))["learner"]["gradient_booster"]["model"][
            "trees"
        ][0]["left_children"]
    )
    problem = (
        f"'model.ubj' is not a valid XGBoost model: tree 0: node 0 has child 999, of {nodes} nodes"
    )
    assert _tried(folder) == [f"push: {problem}", f"load: {problem}"]


def test_a_tampered_model_followed_by_other_bytes_is_refused(tmp_path: Path, booster: Any) -> None:
    """XGBoost reads a JSON model followed by other bytes, which no JSON parser takes: it was
    not checked, and XGBoost loaded its tampered tree."""
    document = json.loads(bytes(booster.save_raw("json")))
    _set("left_children", 0, 999)(document)
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.json").write_text(json.dumps(document) + " trailing")
    refused = "'model.json' is not a valid XGBoost model"
    assert _tried(folder) == [f"push: {refused}", f"load: {refused}"]


def test_the_ubjson_reader_reads_what_xgboost_writes_as_its_json(booster: Any) -> None:
    as_json = json.loads(bytes(booster.save_raw("json")))
    as_ubjson = loads(bytes(booster.save_raw("ubj")))
    assert isinstance(as_ubjson, dict)
    assert _model(as_ubjson)["trees"][0]["left_children"] == _tree(as_json, 0)["left_children"]
    assert as_ubjson["learner"]["learner_model_param"] == as_json["learner"]["learner_model_param"]
    with pytest.raises(UbjsonError, match="ends before offset"):
        loads(bytes(booster.save_raw("ubj"))[:-5])


VALID = {
    "dart": {"booster": "dart", "objective": "binary:logistic", "max_depth": 3},
    "softprob": {"objective": "multi:softprob", "num_class": 3},
    "multi-output trees": {"multi_strategy": "multi_output_tree", "tree_method": "hist"},
    "linear": {"booster": "gblinear"},
    "categorical": {"tree_method": "hist", "max_cat_to_onehot": 1, "max_depth": 3},
}


@pytest.mark.parametrize("kind", sorted(VALID))
def test_every_kind_of_model_xgboost_trains_passes_the_check(tmp_path: Path, kind: str) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 4)).astype(np.float32)
    x[:, 0] = rng.integers(0, 6, 300)
    labels = {
        "softprob": rng.integers(0, 3, 300),
        "multi-output trees": rng.normal(size=(300, 2)),
    }
    y = labels.get(kind, np.isin(x[:, 0], [1, 4]).astype(np.int64))
    types = ["c", "q", "q", "q"] if kind == "categorical" else None
    matrix = xgb.DMatrix(x, label=y, feature_types=types, enable_categorical=types is not None)
    trained = xgb.train(VALID[kind], matrix, 4)
    for suffix, raw in (("json", "json"), ("ubj", "ubj")):
        document = json.loads(bytes(trained.save_raw("json")))
        check_model(document)
        folder = tmp_path / suffix
        folder.mkdir()
        (folder / f"model.{suffix}").write_bytes(bytes(trained.save_raw(raw)))
        card = ModelCard(name="m", runtime="xgboost")
        get_runtime("xgboost").load(folder, card, LoadOptions())


def test_a_document_that_is_no_model_is_left_to_xgboost() -> None:
    check_model([1, 2])
    check_model({"learner": {"gradient_booster": {"name": "gblinear", "model": {}}}})
    with pytest.raises(InvalidArgument, match="num_feature is None, not a count"):
        check_model({"learner": {"gradient_booster": {"model": {"trees": []}}}})
