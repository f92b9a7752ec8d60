"""What the tabular runtimes (sklearn, xgboost, lightgbm) share: one 2-D input, named outputs.

Their native formats carry no signature, so tensor names come from the card's signature (usually
written in ``inferd.model.yaml``), with defaults when it has none. Outputs are what the framework
returns; serving holds them to the signature (:mod:`inferd.serving.signature`: cast where
nothing is lost but float precision, refused otherwise), so what the model returns is what its
metadata promises.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from inferd.card import ModelCard, Signature, TensorSpec
from inferd.datatypes import Array, Tensors, oip_datatype
from inferd.errors import InternalError, InvalidArgument, InvalidTensor

DEFAULT_INPUT = "input"
BOOSTER_OUTPUT = "predictions"


#: The runtimes that read one 2-D input, and whether each takes strings (scikit-learn's
#: encoders do; a booster reads numbers only).
TAKES_STRINGS = {"sklearn": True, "xgboost": False, "lightgbm": False}


def input_problem(runtime: str, signature: Signature) -> str | None:
    """What in ``signature`` a tabular ``runtime`` cannot take (None: nothing, or ``runtime``
    is not tabular): several inputs (it reads the first only), an input that is not a
    ``[rows, features]`` matrix, or strings for a booster."""
    if runtime not in TAKES_STRINGS or not signature.inputs:
        return None
    matrix = f"the {runtime} runtime reads one input, a [rows, features] matrix"
    if len(signature.inputs) > 1:
        names = ", ".join(spec.name for spec in signature.inputs)
        return f"{matrix}; the signature declares {len(signature.inputs)} ({names})"
    (spec,) = signature.inputs
    if len(spec.shape) != 2:
        return f"{matrix}; the signature declares {spec.name!r} of shape {list(spec.shape)}"
    if spec.datatype == "BYTES" and not TAKES_STRINGS[runtime]:
        return (
            f"the {runtime} runtime reads numbers; the signature declares {spec.name!r} BYTES "
            "(declare it FP32)"
        )
    return None


def input_name(card: ModelCard) -> str:
    """The card's first input, or ``input`` when the card declares none."""
    inputs = card.signature.inputs
    return inputs[0].name if inputs else DEFAULT_INPUT


def output_names(card: ModelCard, runtime: str, defaults: tuple[str, ...]) -> tuple[str, ...]:
    """The card's output names, or ``defaults``; refuses a card asking for more than
    ``len(defaults)`` outputs, which this runtime cannot produce."""
    names = tuple(o.name for o in card.signature.outputs) or defaults
    if len(names) > len(defaults):
        raise InvalidArgument(
            f"the {runtime} runtime produces at most {len(defaults)} output(s) "
            f"({', '.join(defaults)}); the model card declares {len(names)}"
        )
    return names


def features(inputs: Tensors, name: str) -> Array:
    """The input tensor ``name`` as a 2-D feature matrix."""
    try:
        x = inputs[name]
    except KeyError:
        raise InvalidTensor(name, "missing from the request") from None
    if x.ndim != 2:
        raise InvalidTensor(name, f"expected 2 dimensions (rows, features), got shape {x.shape}")
    return x


def on_rows(predict: Callable[[Array], Any], x: Array) -> Array:
    """``predict(x)``, also for a matrix of no rows, which frameworks refuse (scikit-learn:
    "Found array with 0 sample(s)") although ``[0, n]`` is a valid request: that answer is the
    one for a row of zeros, cut to no rows, so its dtype and trailing shape are the model's."""
    if x.shape[0]:
        return np.asarray(predict(x))
    return np.asarray(predict(np.zeros((1, *x.shape[1:]), dtype=x.dtype)))[:0]


def booster_output(card: ModelCard, runtime: str) -> str:
    """The one output of a booster: the card's, or ``predictions`` when it declares none."""
    return output_names(card, runtime, (BOOSTER_OUTPUT,))[0]


def booster_signature(score: Callable[[Array], Any], features: int) -> Signature:
    """What a booster taking ``features`` features answers with when its card declares
    nothing: ``input`` FP32 ``[-1, features]``, and ``predictions`` as ``score`` answers a row
    of zeros (one value per row, ``[-1]``, or several: ``[-1, 3]`` for the class
    probabilities of XGBoost's ``multi:softprob`` with 3 classes)."""
    answer = np.asarray(score(np.zeros((1, features), dtype=np.float32)))
    output = TensorSpec(
        name=BOOSTER_OUTPUT, datatype=oip_datatype(answer.dtype), shape=(-1, *answer.shape[1:])
    )
    shape = (-1, features)
    return Signature(
        inputs=(TensorSpec(name=DEFAULT_INPUT, datatype="FP32", shape=shape),), outputs=(output,)
    )


class NotDerived(Exception):
    """The model file does not tell the signature its runtime answers with; ``reason`` says
    why, completing "no signature derived: …" (packaging then pushes without one, or with
    ``partial``, what the file does tell, saying so)."""

    def __init__(self, reason: str, partial: Signature | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.partial = partial if partial is not None else Signature()


class BoosterModel:
    """A gradient-boosted model (xgboost, lightgbm): the feature matrix of its one input in,
    ``width`` columns wide, ``score(features)`` out as its one output (:func:`booster_output`)."""

    def __init__(
        self,
        framework: str,
        score: Callable[[Array], Any],
        card: ModelCard,
        output: str,
        width: int,
    ) -> None:
        self._framework = framework
        #: Bound to the booster; dropped on close, which frees the booster.
        self._score: Callable[[Array], Any] | None = score
        self._input = input_name(card)
        self._output = output
        #: The features the booster takes: a card may leave the width open (``[-1, -1]``).
        self._width = width

    def predict(self, inputs: Tensors) -> Tensors:
        if self._score is None:
            raise InternalError(f"the {self._framework} model was closed")
        x = features(inputs, self._input)
        if x.shape[1] != self._width:
            raise InvalidTensor(
                self._input, f"the model takes {self._width} features (columns), got {x.shape[1]}"
            )
        return {self._output: on_rows(self._score, x)}

    def close(self) -> None:
        self._score = None
