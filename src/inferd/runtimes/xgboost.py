"""The XGBoost runtime: native JSON or UBJSON boosters (``Booster.save_model``), never pickle."""

from __future__ import annotations

import functools
import json
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar, Literal

from inferd.card import ModelCard, Signature
from inferd.datatypes import Array
from inferd.errors import InvalidArgument, Unsupported
from inferd.runtimes._files import model_file
from inferd.runtimes._optional import import_optional
from inferd.runtimes._tabular import BoosterModel, booster_output, booster_signature
from inferd.runtimes._xgboost_trees import check_model_file
from inferd.runtimes.base import LoadOptions, Model

#: UBJSON's length markers: what follows the ``{`` that opens a UBJSON model (in JSON,
#: whitespace or the ``"`` of the first key follows it).
_UBJSON_LENGTH_MARKERS = frozenset(b"iUIlL")


def model_format(path: Path, entrypoint: str | None) -> Literal["json", "ubj"]:
    """Which of XGBoost's two native formats the model file at ``path`` (a file, or an
    artifact directory and its card's entrypoint) is in; its first two bytes tell. Raises as
    loading it would for a file that is no XGBoost model."""
    with model_file(path, entrypoint, XGBoostRuntime.name).open("rb") as f:
        head = f.read(2)
    return "ubj" if len(head) == 2 and head[1] in _UBJSON_LENGTH_MARKERS else "json"


def read_signature(file: Path) -> Signature:
    """What the booster in ``file`` answers with when its card declares nothing
    (:func:`~inferd.runtimes._tabular.booster_signature`), as the runtime predicts."""
    xgb = import_optional("xgboost", "xgboost")
    booster = _booster(xgb, file)
    return booster_signature(_scorer(xgb, booster), booster.num_features())


def _scorer(xgb: ModuleType, booster: Any) -> Callable[[Array], Any]:
    """What ``booster`` predicts for a matrix, with the trees up to the best iteration where
    early stopping chose one (the ``best_iteration`` attribute), as XGBoost's scikit-learn
    wrapper predicts and its documentation predicts a native booster with; every tree
    otherwise. ``inplace_predict`` (no DMatrix, thread-safe), except for a linear booster
    (``gblinear``), which has none: ``predict`` on a DMatrix, one call at a time (XGBoost
    promises thread safety for tree boosters only)."""
    best = booster.attr("best_iteration")
    rounds = (0, int(best) + 1) if best is not None and best.isdigit() else (0, 0)
    config = json.loads(booster.save_config())
    if config["learner"]["gradient_booster"].get("name") != "gblinear":
        return functools.partial(booster.inplace_predict, iteration_range=rounds)
    lock = threading.Lock()

    def predict(x: Array) -> Any:
        with lock:
            return booster.predict(xgb.DMatrix(x), iteration_range=rounds)

    return predict


def _device(booster: Any) -> str:
    """The device the booster runs on, as XGBoost settled it (``cpu`` after a fallback)."""
    config = json.loads(booster.save_config())
    return str(config["learner"]["generic_param"].get("device", "cpu"))


def _booster(xgb: ModuleType, file: Path) -> Any:
    """The booster in ``file``, its trees checked first (:mod:`._xgboost_trees`): XGBoost
    loads a tree whose nodes point outside it, and its first prediction kills the process."""
    with file.open("rb") as f:
        head = f.read(2)
    check_model_file(file, ubjson=len(head) == 2 and head[1] in _UBJSON_LENGTH_MARKERS)
    booster = xgb.Booster()
    try:
        booster.load_model(str(file))
    except xgb.core.XGBoostError as exc:
        raise InvalidArgument(f"{file.name!r} is not a valid XGBoost model") from exc
    return booster


class XGBoostRuntime:
    """Loads the single XGBoost model file (or ``card.entrypoint``) of an artifact."""

    name: ClassVar[str] = "xgboost"

    def __init__(self) -> None:
        self._xgb = import_optional("xgboost", "xgboost")

    def load(self, path: Path, card: ModelCard, options: LoadOptions) -> Model:
        output = booster_output(card, self.name)
        wanted = options.device
        if wanted == "cuda" and not self._xgb.build_info().get("USE_CUDA", False):
            if not options.device_auto:
                raise Unsupported(
                    "device 'cuda' was requested but this XGBoost has no CUDA support"
                )
            wanted = "cpu"  # --device auto: this XGBoost computes on the CPU only
        booster = _booster(self._xgb, model_file(path, card.entrypoint, self.name))
        with warnings.catch_warnings():  # XGBoost's own words for a GPU it does not find
            warnings.simplefilter("ignore", UserWarning)
            booster.set_param({"device": wanted})
            device = _device(booster)
        if wanted == "cuda" and not device.startswith("cuda") and not options.device_auto:
            # XGBoost falls back to CPU: silently serving there would hide a misconfigured
            # GPU deployment (the ONNX runtime refuses it alike).
            raise Unsupported(
                "device 'cuda' was requested but XGBoost finds no GPU here (it would run on "
                "CPU); use device 'cpu'"
            )
        if options.intra_op_threads > 0:  # 0: let XGBoost use every core
            booster.set_param({"nthread": options.intra_op_threads})
        # Its output is what the objective predicts (probabilities for ``binary:logistic``,
        # class scores for ``multi:softprob``...).
        score = _scorer(self._xgb, booster)
        return BoosterModel("XGBoost", score, card, output, booster.num_features())
