"""The LightGBM runtime: native text models (``Booster.save_model``), never pickle."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from inferd.card import ModelCard
from inferd.datatypes import Tensors
from inferd.errors import InternalError, InvalidArgument, Unsupported
from inferd.runtimes._files import model_file
from inferd.runtimes._optional import import_optional
from inferd.runtimes._tabular import conform, features, input_name, output_names
from inferd.runtimes.base import LoadOptions, Model

DEFAULT_OUTPUTS = ("predictions",)


class LightGBMModel:
    """One booster; its output is what ``Booster.predict`` returns for the objective."""

    def __init__(self, booster: Any, card: ModelCard, output: str, threads: int) -> None:
        self._booster = booster
        self._card = card
        self._input = input_name(card)
        self._output = output
        self._threads = threads

    def predict(self, inputs: Tensors) -> Tensors:
        if self._booster is None:
            raise InternalError("the LightGBM model was closed")
        scores = self._booster.predict(features(inputs, self._input), num_threads=self._threads)
        return conform(self._card, {self._output: scores})

    def close(self) -> None:
        self._booster = None


class LightGBMRuntime:
    """Loads the single LightGBM model file (or ``card.entrypoint``) of an artifact."""

    name: ClassVar[str] = "lightgbm"

    def __init__(self) -> None:
        self._lgb = import_optional("lightgbm", "lightgbm")

    def load(self, path: Path, card: ModelCard, options: LoadOptions) -> Model:
        if options.device != "cpu":
            raise Unsupported("the lightgbm runtime runs on CPU only; use device 'cpu'")
        output = output_names(card, self.name, DEFAULT_OUTPUTS)[0]
        file = model_file(path, card.entrypoint, self.name)
        try:
            booster = self._lgb.Booster(model_file=str(file))
        except self._lgb.basic.LightGBMError as exc:
            raise InvalidArgument(f"{file.name!r} is not a valid LightGBM model") from exc
        return LightGBMModel(booster, card, output, options.intra_op_threads)
