"""The scikit-learn runtime: estimators in the skops format only (never pickle or joblib)."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, ClassVar

from inferd.card import ModelCard
from inferd.datatypes import Array, Tensors
from inferd.errors import InvalidArgument, InvalidTensor, PermissionDenied, Unsupported
from inferd.runtimes._files import model_file
from inferd.runtimes._optional import import_optional
from inferd.runtimes._sklearn_columns import known_values, unknown_categories
from inferd.runtimes._tabular import features, input_name, on_rows
from inferd.runtimes._text import as_text
from inferd.runtimes.base import LoadOptions, Model
from inferd.runtimes.warmup import KnownValues

#: The outputs the runtime gives, by name, and the estimator method that computes each.
OUTPUT_METHODS = {"label": "predict", "predictions": "predict", "probabilities": "predict_proba"}
#: Output names when the card declares none: an estimator's with ``predict_proba`` (a
#: classifier), and one's without (a regressor).
CLASSIFIER_OUTPUTS = ("label", "probabilities")
REGRESSOR_OUTPUTS = ("predictions",)
#: How scikit-learn's encoders (``handle_unknown='error'``) refuse a category they were not
#: fitted on: the client's value, so a 400, where any other ValueError is the model's fault.
_UNKNOWN_CATEGORY = "Found unknown categories"


class SklearnModel:
    """An estimator: each output computed by the method its name stands for
    (:data:`OUTPUT_METHODS`), each method once per batch."""

    def __init__(self, estimator: Any, card: ModelCard, outputs: dict[str, str]) -> None:
        self._estimator = estimator
        self._input = input_name(card)
        #: Output name → estimator method.
        self._outputs = outputs

    def predict(self, inputs: Tensors) -> Tensors:
        x = features(inputs, self._input)
        if x.dtype.kind == "O":  # BYTES, for encoders fitted on strings
            x = as_text(self._input, x)
        answers: dict[str, Array] = {}
        try:
            for method in self._outputs.values():
                if method not in answers:
                    answers[method] = on_rows(getattr(self._estimator, method), x)
        except ValueError as exc:
            if _UNKNOWN_CATEGORY not in str(exc):
                raise  # the model's own fault: a 500, its details in the log
            detail = unknown_categories(self._estimator, x) or str(exc)
            raise InvalidTensor(self._input, detail) from None
        return {name: answers[method] for name, method in self._outputs.items()}

    def known_values(self) -> KnownValues:
        """For each column of the input, the first string category the estimator's encoder
        was fitted on, where one is (:mod:`inferd.runtimes._sklearn_columns`)."""
        width = int(getattr(self._estimator, "n_features_in_", 0))
        return {self._input: known_values(self._estimator, width)} if width else {}

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
        return SklearnModel(estimator, card, _outputs(estimator, card))


def _outputs(estimator: Any, card: ModelCard) -> dict[str, str]:
    """Output name → method for the outputs the card declares (or the defaults), matched by
    name; InvalidArgument for a name the runtime does not give, or whose method the
    estimator lacks, saying what it can give."""
    methods = {
        name: method
        for name, method in OUTPUT_METHODS.items()
        if callable(getattr(estimator, method, None))
    }
    default = CLASSIFIER_OUTPUTS if "probabilities" in methods else REGRESSOR_OUTPUTS
    names = [o.name for o in card.signature.outputs] or default
    for name in names:
        if name not in methods:
            gives = ", ".join(f"{n} ({m})" for n, m in methods.items())
            method = OUTPUT_METHODS.get(name)
            why = f": {type(estimator).__name__} has no {method}" if method else ""
            raise InvalidArgument(
                f"the sklearn runtime cannot give output {name!r}{why}; it gives the outputs "
                f"named {gives}"
            )
    return {name: methods[name] for name in names}
