"""A tampered LightGBM text model loaded fine: a child index past its tree (the same length of
text, so tree_sizes still held) killed the process at its first prediction with a segmentation
fault, and a node pointing back at the root made every prediction loop for ever. Its trees are
now checked at push and at load, refused naming the tree and the node. Each case runs in a
child process with a time limit, so a regression fails the test rather than ending or hanging
pytest."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest

from inferd.card import ModelCard
from inferd.runtimes import LoadOptions, get_runtime

CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import numpy as np
    from inferd.card import ModelCard
    from inferd.errors import InvalidArgument
    from inferd.runtimes import LoadOptions, get_runtime
    from inferd.runtimes.detect import derive_signature
    folder = Path(sys.argv[1])
    try:
        derive_signature(folder / "model.txt", "lightgbm")
    except InvalidArgument as exc:
        print("push:", exc.message)
    card = ModelCard(name="m", runtime="lightgbm")
    try:
        model = get_runtime("lightgbm").load(folder, card, LoadOptions())
    except InvalidArgument as exc:
        print("load:", exc.message)
    else:
        model.predict({"input": np.zeros((2, 4))})
        print("predicted")
    """
)


@pytest.fixture(scope="module")
def model_text() -> str:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4))
    y = (x[:, 0] > 0).astype(np.int64)
    params = {"objective": "binary", "num_leaves": 4, "verbose": -1}
    text: str = lgb.train(params, lgb.Dataset(x, label=y), 3).model_to_string()
    return text


def _tampered(tmp_path: Path, text: str, key: str, values: str) -> list[str]:
    """Tree 0's ``key`` line set to ``values`` (of the same length, so tree_sizes hold), tried
    in a child process: what push and load said."""
    start = text.index(f"\n{key}=", text.index("Tree=0")) + len(key) + 2
    end = text.index("\n", start)
    assert len(values) == end - start
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.txt").write_text(text[:start] + values + text[end:])
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    return done.stdout.splitlines()


@pytest.mark.parametrize(
    ("key", "values", "problem"),
    [
        ("left_child", "9 -1 -2", "tree 0: node 0 has child 9, of 3 nodes"),
        ("left_child", "1 -1 -9", "tree 0: node 2 has leaf 8, of 4 leaves"),
        ("right_child", "2 -3 00", "tree 0: node 2 has child 0, of 3 nodes"),
        ("right_child", "2 -3 01", "tree 0: node 2 leads to node 1 a second time (a cycle)"),
        ("split_feature", "7 0 1", "tree 0: node 0 splits on feature 7, of 4 features"),
    ],
)
def test_a_tampered_tree_is_refused_at_push_and_load(
    tmp_path: Path, model_text: str, key: str, values: str, problem: str
) -> None:
    assert model_text.count("left_child=1 -1 -2\nright_child=2 -3 -4\n") >= 1
    refused = f"'model.txt' is not a valid LightGBM model: {problem}"
    assert _tampered(tmp_path, model_text, key, values) == [
        f"push: {refused}",
        f"load: {refused}",
    ]


@pytest.fixture(scope="module")
def categorical_text() -> str:
    """Tree 0 splits first on a category set: threshold=0 (its set), cat_boundaries=0 1."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 4))
    x[:, 0] = rng.integers(0, 6, 400)
    y = np.isin(x[:, 0], [1, 4]).astype(np.float64)
    params = {"objective": "binary", "num_leaves": 4, "verbose": -1, "min_data_per_group": 5}
    data = lgb.Dataset(x, label=y, categorical_feature=[0])
    text: str = lgb.train({**params, "cat_smooth": 1}, data, 2).model_to_string()
    return text


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("threshold", "tree 0: node 0 splits on category set 9, of 1"),
        ("cat_boundaries", "tree 0: its cat_boundaries do not divide its 1 cat_threshold values"),
    ],
)
def test_a_tampered_categorical_split_is_refused(
    tmp_path: Path, categorical_text: str, key: str, problem: str
) -> None:
    """A category set past the tree's (threshold), or a set's end past the categories
    (cat_boundaries), was read outside the tree's arrays."""
    tree = categorical_text[categorical_text.index("Tree=0") :]
    assert "\nthreshold=0 " in tree and "\ncat_boundaries=0 1\n" in tree
    line = tree[tree.index(f"\n{key}=") + len(key) + 2 :].split("\n", 1)[0]
    values = "9" + line[1:] if key == "threshold" else "0 9"
    said = _tampered(tmp_path, categorical_text, key, values)
    refused = f"'model.txt' is not a valid LightGBM model: {problem}"
    assert [line[: len("push: ") + len(refused)] for line in said] == [
        f"push: {refused}",
        f"load: {refused}",
    ]


VALID = {
    "multiclass": {"objective": "multiclass", "num_class": 3},
    "categorical": {"objective": "binary", "min_data_per_group": 5, "cat_smooth": 1},
    "dart": {"objective": "binary", "boosting": "dart"},
    "random forest": {
        "objective": "binary", "boosting": "rf", "bagging_fraction": 0.5, "bagging_freq": 1,
    },
    "linear trees": {"objective": "regression", "linear_tree": True},
}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(VALID))
def test_every_kind_of_model_lightgbm_trains_passes_the_check(tmp_path: Path, kind: str) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 4))
    x[:, 0] = rng.integers(0, 6, 400)
    y = rng.integers(0, 3, 400) if kind == "multiclass" else np.isin(x[:, 0], [1, 4])
    categorical = [0] if kind == "categorical" else "auto"
    data = lgb.Dataset(x, label=y.astype(np.float64), categorical_feature=categorical)
    booster = lgb.train({**VALID[kind], "num_leaves": 15, "verbose": -1}, data, 5)
    booster.save_model(str(tmp_path / "model.txt"))
    card = ModelCard(name="m", runtime="lightgbm")
    model = get_runtime("lightgbm").load(tmp_path, card, LoadOptions())
    answer = model.predict({"input": x[:5]})["predictions"]
    np.testing.assert_allclose(answer, booster.predict(x[:5]))
