"""The LightGBM runtime: native text models (``Booster.save_model``), never pickle."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

from inferd.card import ModelCard, Signature
from inferd.errors import InvalidArgument, Unsupported
from inferd.runtimes._files import model_file
from inferd.runtimes._optional import import_optional
from inferd.runtimes._tabular import BoosterModel, booster_output, booster_signature
from inferd.runtimes.base import LoadOptions, Model


def read_signature(file: Path) -> Signature:
    """What the booster in ``file`` answers with when its card declares nothing
    (:func:`~inferd.runtimes._tabular.booster_signature`), as the runtime predicts."""
    booster = _booster(import_optional("lightgbm", "lightgbm"), file)
    return booster_signature(booster.predict, booster.num_feature())


def _booster(lgb: ModuleType, file: Path) -> Any:
    text = file.read_bytes()
    problem = _damage(text) or _tampered(text)
    if problem is not None:
        raise InvalidArgument(f"{file.name!r} is not a valid LightGBM model: {problem}")
    try:
        return lgb.Booster(model_file=str(file))
    except lgb.basic.LightGBMError as exc:
        raise InvalidArgument(f"{file.name!r} is not a valid LightGBM model") from exc


#: What each tree of more than one leaf holds, and how many values: ``num_leaves - 1`` for the
#: splits, ``num_leaves`` for the leaves.
_SPLITS = (b"split_feature", b"threshold", b"decision_type", b"left_child", b"right_child")


def _damage(text: bytes) -> str | None:
    """What in a LightGBM text model would make LightGBM's parser end the process rather than
    raise (it reads the trees ``tree_sizes`` delimits in parallel threads, where an error calls
    std::terminate): CRLF line endings, trees cut short or missing their fields. None: nothing
    (or a model without ``tree_sizes``, which LightGBM reads in one thread, raising)."""
    if b"\r\n" in text:
        return (
            "its lines end in CRLF (a Windows checkout?), which LightGBM cannot read: convert "
            "them to LF (dos2unix)"
        )
    start = text.find(b"\nTree=0\n") + 1
    header = [line for line in text[:start].splitlines() if line.startswith(b"tree_sizes=")]
    sizes = header[0][len(b"tree_sizes=") :].split() if header else None
    if not start or sizes is None:
        return None
    if not all(size.isdigit() for size in sizes):
        return "its tree_sizes are not all numbers"
    for tree, size in enumerate(sizes):
        end = start + int(size)
        block = text[start:end]
        if end > len(text) or not block.startswith(b"Tree=%d\n" % tree) or not _whole(block):
            return f"it is cut short (tree {tree} is incomplete)"
        start = end
    if not text[start:].startswith(b"end of trees"):
        return "its trees do not end where its tree_sizes say"
    return None


def _whole(block: bytes) -> bool:
    """Whether a tree's block holds its leaves and, for more than one, its splits, each with
    as many values as ``num_leaves`` calls for."""
    fields = dict(line.partition(b"=")[::2] for line in block.splitlines()[1:] if b"=" in line)
    leaves = fields.get(b"num_leaves", b"")
    if not leaves.isdigit() or b"leaf_value" not in fields:
        return False
    count = int(leaves)
    if len(fields[b"leaf_value"].split()) != count:
        return False
    return count <= 1 or all(len(fields.get(key, b"").split()) == count - 1 for key in _SPLITS)


def _tampered(text: bytes) -> str | None:
    """What in a tree would make a prediction read outside it (LightGBM loads such a model): a
    child past the tree's nodes or leaves (a segmentation fault), a node reached twice (a cycle:
    the prediction never ends), or a split on a feature past the model's width."""
    head = re.search(rb"^max_feature_idx=(\d+)$", text, re.MULTILINE)
    features = int(head.group(1)) + 1 if head else None
    for block in re.split(rb"\n(?=Tree=\d+\n)", text)[1:]:
        lines = block.split(b"\n\n", 1)[0].splitlines()
        fields = dict(line.partition(b"=")[::2] for line in lines[1:] if b"=" in line)
        try:
            problem = _tree_problem(fields, features)
        except ValueError:
            problem = "its splits are not all numbers"
        if problem is not None:
            return f"{lines[0].decode(errors='replace').lower().replace('=', ' ')}: {problem}"
    return None


def _tree_problem(fields: dict[bytes, bytes], features: int | None) -> str | None:
    leaves = int(fields.get(b"num_leaves", b"1"))
    if leaves <= 1:
        return None
    left, right, split = (
        [int(v) for v in fields.get(key, b"").split()]
        for key in (b"left_child", b"right_child", b"split_feature")
    )
    kinds = [int(v) for v in fields.get(b"decision_type", b"").split()]
    thresholds = fields.get(b"threshold", b"").split()
    if not len(left) == len(right) == len(split) == len(kinds) == len(thresholds) == leaves - 1:
        return f"its splits are not {leaves - 1}, for {leaves} leaves"
    categories = _categories(fields)
    if isinstance(categories, str):
        return categories
    seen, pending = {0}, [0]
    while pending:
        node = pending.pop()
        if features is not None and not 0 <= split[node] < features:
            return f"node {node} splits on feature {split[node]}, of {features} features"
        if kinds[node] & 1 and not 0 <= float(thresholds[node]) < categories:
            return (
                f"node {node} splits on category set {thresholds[node].decode()}, of {categories}"
            )
        for child in (left[node], right[node]):
            if child < 0 and ~child >= leaves:
                return f"node {node} has leaf {~child}, of {leaves} leaves"
            if child >= 0 and not 0 < child < leaves - 1:
                return f"node {node} has child {child}, of {leaves - 1} nodes"
            if child >= 0 and child in seen:
                return f"node {node} leads to node {child} a second time (a cycle)"
            if child >= 0:
                seen.add(child)
                pending.append(child)
    return None


def _categories(fields: dict[bytes, bytes]) -> int | str:
    """How many category sets a tree's categorical splits choose from, or what is wrong with
    their boundaries (each set's start in ``cat_threshold``, then its end)."""
    count = int(fields.get(b"num_cat", b"0"))
    if count <= 0:
        return 0
    bounds = [int(v) for v in fields.get(b"cat_boundaries", b"").split()]
    words = len(fields.get(b"cat_threshold", b"").split())
    ordered = bounds == sorted(bounds)
    if len(bounds) != count + 1 or bounds[0] != 0 or not ordered or bounds[-1] != words:
        return f"its cat_boundaries do not divide its {words} cat_threshold values in {count}"
    return count


class LightGBMRuntime:
    """Loads the single LightGBM model file (or ``card.entrypoint``) of an artifact."""

    name: ClassVar[str] = "lightgbm"

    def __init__(self) -> None:
        self._lgb = import_optional("lightgbm", "lightgbm")

    def load(self, path: Path, card: ModelCard, options: LoadOptions) -> Model:
        if options.device != "cpu" and not options.device_auto:
            raise Unsupported("the lightgbm runtime runs on CPU only; use device 'cpu'")
        output = booster_output(card, self.name)
        booster = _booster(self._lgb, model_file(path, card.entrypoint, self.name))
        score = functools.partial(booster.predict, num_threads=options.intra_op_threads)
        return BoosterModel("LightGBM", score, card, output, booster.num_feature())
