"""The trees of an XGBoost model, checked before XGBoost reads them.

XGBoost checks the lengths of a tree's arrays when it loads a model, but not what they hold: a
child index past the tree's end, a node that is its own descendant, a split on a feature past
the model's width or an output group past its count load fine, and the first prediction reads
outside the arrays (the process dies of a segmentation fault, every model it serves with it).
A tampered or damaged file is refused instead, naming the tree and the node. The file is read
as XGBoost reads it: JSON, or UBJSON (:mod:`inferd.runtimes._ubjson`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from inferd.errors import InvalidArgument
from inferd.runtimes._ubjson import UbjsonError
from inferd.runtimes._ubjson import loads as ubjson_loads

#: A leaf's left child (and, in a one-output tree, its right child).
_LEAF = -1


def check_model_file(file: Path, ubjson: bool) -> None:
    """Refuse (InvalidArgument) the XGBoost model in ``file`` if a tree's structure would make
    a prediction read outside it, or if it cannot be read to be checked: XGBoost reads some
    files that are not JSON (a valid model followed by other bytes), a tampered one among them.
    """
    try:
        document = ubjson_loads(file.read_bytes()) if ubjson else orjson.loads(file.read_bytes())
    except (UbjsonError, orjson.JSONDecodeError):
        raise InvalidArgument(f"{file.name!r} is not a valid XGBoost model") from None
    try:
        check_model(document)
    except InvalidArgument as exc:
        raise InvalidArgument(
            f"{file.name!r} is not a valid XGBoost model: {exc.message}"
        ) from None


def check_model(document: object) -> None:
    """Check the trees of a model as ``Booster.save_model`` writes it (parsed)."""
    learner = _mapping(_mapping(document).get("learner"))
    booster = _mapping(learner.get("gradient_booster"))
    if booster.get("name") == "dart":
        booster = _mapping(booster.get("gbtree"))
    model = _mapping(booster.get("model"))
    trees = model.get("trees")
    if not isinstance(trees, list):  # a linear booster, or no model: XGBoost decides
        return
    params = _mapping(learner.get("learner_model_param"))
    features = _count(params.get("num_feature"), "learner_model_param.num_feature")
    classes = _count(params.get("num_class", 0), "learner_model_param.num_class")
    targets = _count(params.get("num_target", 1), "learner_model_param.num_target")
    groups = max(classes, targets, 1)
    tree_info = model.get("tree_info", [])
    if not isinstance(tree_info, list) or len(tree_info) != len(trees):
        raise InvalidArgument(
            f"its tree_info does not name an output group for each of {len(trees)} trees"
        )
    for index, (tree, group) in enumerate(zip(trees, tree_info, strict=True)):
        if not isinstance(group, int) or not 0 <= group < groups:
            raise InvalidArgument(f"tree {index} is for output group {group!r}, of {groups}")
        try:
            _check_tree(_mapping(tree), features)
        except InvalidArgument as exc:
            raise InvalidArgument(f"tree {index}: {exc.message}") from None


def _check_tree(tree: Mapping[str, Any], features: int) -> None:
    param = _mapping(tree.get("tree_param"))
    size = _count(param.get("num_nodes"), "tree_param.num_nodes")
    leaf_size = _count(param.get("size_leaf_vector", 1), "tree_param.size_leaf_vector")
    left = _ints(tree, "left_children", size)
    right = _ints(tree, "right_children", size)
    splits = _ints(tree, "split_indices", size)
    kinds = _ints(tree, "split_type", size) if "split_type" in tree else [0] * size
    categorical = _categories(tree, size)
    leaves = len(tree.get("leaf_weights", ())) // leaf_size if leaf_size > 1 else 0
    if size < 1:
        raise InvalidArgument("it has no nodes")
    seen = {0}
    pending = [0]
    while pending:
        node = pending.pop()
        if left[node] == _LEAF:
            if leaf_size > 1 and not 0 <= right[node] < leaves:
                raise InvalidArgument(f"leaf {node} has weights {right[node]}, of {leaves}")
            if leaf_size == 1 and right[node] != _LEAF:
                raise InvalidArgument(f"node {node} has a right child but no left one")
            continue
        if not 0 <= splits[node] < features:
            raise InvalidArgument(
                f"node {node} splits on feature {splits[node]}, of {features} features"
            )
        if kinds[node] == 1 and node not in categorical:
            raise InvalidArgument(f"node {node} is a categorical split without categories")
        for child in (left[node], right[node]):
            if not 0 < child < size:
                raise InvalidArgument(f"node {node} has child {child}, of {size} nodes")
            if child in seen:
                raise InvalidArgument(f"node {node} leads to node {child} a second time (a cycle)")
            seen.add(child)
            pending.append(child)


def _categories(tree: Mapping[str, Any], size: int) -> set[int]:
    """The nodes whose categories the tree holds, each segment inside its categories."""
    nodes = _ints(tree, "categories_nodes", None)
    segments = _ints(tree, "categories_segments", len(nodes))
    sizes = _ints(tree, "categories_sizes", len(nodes))
    total = len(tree.get("categories", ()))
    for node, start, count in zip(nodes, segments, sizes, strict=True):
        if not 0 <= node < size:
            raise InvalidArgument(f"categories are given for node {node}, of {size} nodes")
        if start < 0 or count < 0 or start + count > total:
            raise InvalidArgument(
                f"the categories of node {node} are {count} from {start}, of {total}"
            )
    return set(nodes)


def _ints(tree: Mapping[str, Any], key: str, size: int | None) -> Sequence[int]:
    values = tree.get(key, [])
    if not isinstance(values, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in values
    ):
        raise InvalidArgument(f"its {key} is not a list of integers")
    if size is not None and len(values) != size:
        raise InvalidArgument(f"its {key} holds {len(values)} values for {size}")
    return values


def _count(value: object, key: str) -> int:
    """A model parameter XGBoost writes as a decimal string (or a number)."""
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise InvalidArgument(f"its {key} is {value!r}, not a count")


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
