"""The scikit-learn runtime: estimators in the skops format only (never pickle or joblib)."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, ClassVar

from inferd.card import ModelCard
from inferd.datatypes import Tensors
from inferd.errors import InvalidArgument, PermissionDenied, Unsupported
from inferd.runtimes._files import model_file
from inferd.runtimes._optional import import_optional
from inferd.runtimes._tabular import conform, features, input_name, on_rows, output_names
from inferd.runtimes._text import as_text
from inferd.runtimes.base import LoadOptions, Model

#: Output names when the card declares none: a classifier's ``predict`` then ``predict_proba``;
#: a regressor's ``predict``.
CLASSIFIER_OUTPUTS = ("label", "probabilities")
REGRESSOR_OUTPUTS = ("predictions",)


class SklearnModel:
    """An estimator: the first output is ``predict``, the second (if any) ``predict_proba``."""

    def __init__(self, estimator: Any, card: ModelCard, outputs: tuple[str, ...]) -> None:
        self._estimator = estimator
        self._card = card
        self._input = input_name(card)
        self._outputs = outputs

    def predict(self, inputs: Tensors) -> Tensors:
        x = features(inputs, self._input)
        if x.dtype.kind == "O":  # BYTES, for encoders fitted on strings
            x = as_text(self._input, x)
        results = {self._outputs[0]: on_rows(self._estimator.predict, x)}
        if len(self._outputs) > 1:
            results[self._outputs[1]] = on_rows(self._estimator.predict_proba, x)
        return conform(self._card, results)

    def close(self) -> None:
        self._estimator = None


class SklearnRuntime:
    """Loads a ``.skops`` file with only the types skops trusts, unless code is trusted."""

    name: ClassVar[str] = "sklearn"

    def __init__(self) -> None:
        import_optional("sklearn", "sklearn")
        self._skops_io = import_optional("skops.io", "sklearn")

    def load(self, path: Path, card: ModelCard, options: LoadOptions) -> Model:
        if options.device != "cpu":
            raise Unsupported("the sklearn runtime runs on CPU only; use device 'cpu'")
        file = model_file(path, card.entrypoint, self.name)
        try:
            untrusted: list[str] = self._skops_io.get_untrusted_types(file=file)
            if untrusted and not options.trust_code:
                raise PermissionDenied(
                    f"{file.name!r} contains types skops does not trust by default "
                    f"({', '.join(untrusted)}); load it only with explicit code trust"
                )
            estimator = self._skops_io.load(file, trusted=untrusted)
        except (ValueError, TypeError, KeyError, OSError, zipfile.BadZipFile) as exc:
            raise InvalidArgument(f"{file.name!r} is not a valid skops model") from exc
        if not callable(getattr(estimator, "predict", None)):
            raise InvalidArgument(f"{file.name!r} holds no estimator with a predict method")
        has_proba = callable(getattr(estimator, "predict_proba", None))
        defaults = CLASSIFIER_OUTPUTS if has_proba else REGRESSOR_OUTPUTS
        return SklearnModel(estimator, card, output_names(card, self.name, defaults))
