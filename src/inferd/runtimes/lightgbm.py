"""The LightGBM runtime: native text models (``Booster.save_model``), never pickle."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import ClassVar

from inferd.card import ModelCard
from inferd.errors import InvalidArgument, Unsupported
from inferd.runtimes._files import model_file
from inferd.runtimes._optional import import_optional
from inferd.runtimes._tabular import BoosterModel, booster_output
from inferd.runtimes.base import LoadOptions, Model


class LightGBMRuntime:
    """Loads the single LightGBM model file (or ``card.entrypoint``) of an artifact."""

    name: ClassVar[str] = "lightgbm"

    def __init__(self) -> None:
        self._lgb = import_optional("lightgbm", "lightgbm")

    def load(self, path: Path, card: ModelCard, options: LoadOptions) -> Model:
        if options.device != "cpu":
            raise Unsupported("the lightgbm runtime runs on CPU only; use device 'cpu'")
        output = booster_output(card, self.name)
        file = model_file(path, card.entrypoint, self.name)
        try:
            booster = self._lgb.Booster(model_file=str(file))
        except self._lgb.basic.LightGBMError as exc:
            raise InvalidArgument(f"{file.name!r} is not a valid LightGBM model") from exc
        score = functools.partial(booster.predict, num_threads=options.intra_op_threads)
        return BoosterModel("LightGBM", score, card, output)
