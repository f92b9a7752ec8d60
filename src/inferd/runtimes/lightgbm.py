"""The LightGBM runtime: native text models (``Booster.save_model``), never pickle."""

from __future__ import annotations

import functools
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
    try:
        return lgb.Booster(model_file=str(file))
    except lgb.basic.LightGBMError as exc:
        raise InvalidArgument(f"{file.name!r} is not a valid LightGBM model") from exc


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
