"""The scikit-learn runtime: estimators in the skops format only (never pickle or joblib).

A file of the types skops trusts loads in the server's process: loading it runs none of its
code. One holding other types (a class outside skops' allowlist, a user's own transformer) loads
only when the operator trusts the model's code (``--trust-code``, ``trust_code: true``), and then,
as a python model's code does, in a sandbox worker of its own under the ``sandbox:`` limits
(:class:`SklearnWorkerModel`, :mod:`inferd.sandbox`), never in the server: loading those types
runs their code. Inferd errors raised in the worker (a client's bad input) reach the client as
they are.
"""

from __future__ import annotations

import functools
import sys
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import numpy as np

from inferd.card import ModelCard, Signature, TensorSpec
from inferd.datatypes import Array, Tensors, numpy_dtype, object_array, oip_datatype
from inferd.errors import (
    InternalError,
    InvalidArgument,
    InvalidTensor,
    PermissionDenied,
    Unsupported,
)
from inferd.runtimes._files import model_file
from inferd.runtimes._optional import import_optional
from inferd.runtimes._sklearn_columns import (
    example_values,
    known_numbers,
    known_values,
    named_columns,
    refused_values,
    takes_strings,
)
from inferd.runtimes._tabular import DEFAULT_INPUT, NotDerived, features, input_name, on_rows
from inferd.runtimes._text import as_text
from inferd.runtimes.base import LoadOptions, Model
from inferd.runtimes.python import trust_advice
from inferd.runtimes.warmup import KnownValues
from inferd.sandbox.model import SandboxedModel
from inferd.sandbox.process import WorkerSpec

#: The outputs the runtime gives, by name, and the estimator method that computes each.
OUTPUT_METHODS = {"label": "predict", "predictions": "predict", "probabilities": "predict_proba"}
#: Output names when the card declares none: an estimator's with ``predict_proba`` (a
#: classifier), and one's without (a regressor).
CLASSIFIER_OUTPUTS = ("label", "probabilities")
REGRESSOR_OUTPUTS = ("predictions",)


class SklearnModel:
    """An estimator: each output computed by the method its name stands for
    (:data:`OUTPUT_METHODS`), each method once per batch."""

    def __init__(self, estimator: Any, tensor: str, outputs: dict[str, str]) -> None:
        self._estimator = estimator
        self._input = tensor
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
                    answers[method] = on_rows(functools.partial(_call, self._estimator, method), x)
        except ValueError as exc:
            detail = refused_values(self._estimator, x, str(exc))
            if detail is None:
                raise  # the model's own fault: a 500, its details in the log
            raise InvalidTensor(self._input, detail) from None
        return {name: answers[method] for name, method in self._outputs.items()}

    def known_values(self) -> KnownValues:
        """For each column of the input, the first string category the estimator's encoder
        was fitted on, where one is, and ``"0"`` where a ``ColumnTransformer`` reads numbers
        (:func:`~inferd.runtimes._sklearn_columns.example_values`)."""
        width = int(getattr(self._estimator, "n_features_in_", 0))
        return {self._input: example_values(self._estimator, width)} if width else {}

    def close(self) -> None:
        self._estimator = None


class SklearnRuntime:
    """Loads a ``.skops`` file with only the types skops trusts, unless code is trusted."""

    name: ClassVar[str] = "sklearn"

    def __init__(self) -> None:
        import_optional("sklearn", "sklearn")
        self._skops_io = import_optional("skops.io", "sklearn")

    def load(self, path: Path, card: ModelCard, options: LoadOptions) -> Model:
        if options.device != "cpu" and not options.device_auto:
            raise Unsupported("the sklearn runtime runs on CPU only; use device 'cpu'")
        file = model_file(path, card.entrypoint, self.name)
        untrusted = _untrusted(self._skops_io, file)
        if untrusted and not options.trust_code:
            raise PermissionDenied(
                f"{file.name!r} contains types skops does not trust by default "
                f"({', '.join(untrusted)}), and loading them runs their code; "
                f"{trust_advice(card.name)}"
            )
        declared = tuple(o.name for o in card.signature.outputs)
        if untrusted:
            return _in_worker(file, card, untrusted, options)
        estimator = _estimator(self._skops_io, file, [])
        return SklearnModel(estimator, input_name(card), _outputs(estimator, declared))


def _in_worker(file: Path, card: ModelCard, trusted: list[str], options: LoadOptions) -> Model:
    """The estimator in ``file``, loaded with the ``trusted`` types in a sandbox worker under
    the model's sandbox limits (see the module docstring)."""
    spec = WorkerSpec.trusted(
        file.parent,
        __name__,
        SklearnWorkerModel.__name__,
        options.sandbox,
        builtin=True,
        options={
            "file": str(file),
            "tensor": input_name(card),
            "declared": [o.name for o in card.signature.outputs],
            "trusted": trusted,
        },
    )
    return SandboxedModel.load(card.name, spec)


class SklearnWorkerModel:
    """What the sandbox worker builds (``WorkerSpec.options`` as keyword arguments): the
    estimator loaded with its types trusted, answering as :class:`SklearnModel` does."""

    def __init__(self, file: str, tensor: str, declared: list[str], trusted: list[str]) -> None:
        self._file = Path(file)
        self._input = tensor
        self._declared = tuple(declared)
        self._trusted = trusted
        self._model: SklearnModel | None = None

    def load(self, root: Path) -> None:
        import_optional("sklearn", "sklearn")
        # A type of the author's own (a transformer written for the model) may come with it, as
        # a module beside the file; installed modules of the same name come first.
        sys.path.append(str(self._file.parent))
        try:
            estimator = _estimator(
                import_optional("skops.io", "sklearn"), self._file, self._trusted
            )
        except ImportError as exc:
            if not exc.name:
                raise
            held = next((t for t in self._trusted if t.startswith(f"{exc.name}.")), exc.name)
            raise InvalidArgument(
                f"{self._file.name!r} holds {held}, whose module {exc.name!r} is neither "
                "installed where the server runs nor in the model (ship "
                f"{exc.name.replace('.', '/')}.py beside {self._file.name})"
            ) from None
        self._model = SklearnModel(estimator, self._input, _outputs(estimator, self._declared))

    def predict(self, inputs: Tensors) -> Tensors:
        if self._model is None:
            raise InternalError("the scikit-learn worker has no model loaded")
        return self._model.predict(inputs)

    def close(self) -> None:
        if self._model is not None:
            self._model.close()
            self._model = None


def read_signature(file: Path) -> Signature:
    """What the runtime answers with for the estimator in ``file`` when its card declares
    nothing: ``input`` ``[-1, n]`` for its ``n_features_in_`` (BYTES where an encoder reading
    the input was fitted on strings, else FP32 as for a booster: what clients of a tabular
    model send, which scikit-learn widens to float64 without loss; FP64 for an estimator
    refusing float32, as KMeans fitted on float64 does), and the default outputs
    (:func:`_outputs`) as it answers one row: zeros, or each column's first category (``"0"``
    where it has none; a number where the encoder was fitted on numbers). Loads only the types
    skops trusts by default: NotDerived for a file holding others, an estimator that does not
    tell its width, or one refusing that row.
    """
    import_optional("sklearn", "sklearn")
    skops_io = import_optional("skops.io", "sklearn")
    untrusted = _untrusted(skops_io, file)
    if untrusted:
        raise NotDerived(
            f"it holds types skops does not trust by default ({', '.join(untrusted)}), which "
            "push never loads"
        )
    estimator = _estimator(skops_io, file, [])
    told = getattr(estimator, "n_features_in_", None)
    if not isinstance(told, int | np.integer):
        raise NotDerived(
            f"{type(estimator).__name__} does not tell how many features it takes "
            "(it has no n_features_in_)"
        )
    width = int(told)
    if takes_strings(estimator):
        rows = [
            ("BYTES", object_array([v or "0" for v in known_values(estimator, width)], (1, width)))
        ]
    else:  # FP32, unless the estimator takes float64 only (KMeans fitted on it)
        coded = known_numbers(estimator, width)  # an encoder's categories, where numbers
        zeros = [0.0 if v is None else v for v in coded]
        rows = [(d, np.array([zeros], dtype=numpy_dtype(d))) for d in ("FP32", "FP64")]
    refused = None
    for datatype, row in rows:
        try:
            outputs = _answers(estimator, row)
        except Exception as exc:  # whatever the estimator raises, it does not tell what it answers
            refused = refused or f"{type(exc).__name__}: {' '.join(str(exc).split())}"
            continue
        spec = TensorSpec(name=DEFAULT_INPUT, datatype=datatype, shape=(-1, width))
        return Signature(inputs=(spec,), outputs=outputs)
    raise NotDerived(
        f"{type(estimator).__name__} refused a row of "
        f"{'its categories' if rows[0][0] == 'BYTES' else 'zeros'} ({refused})"
    )


def _answers(estimator: Any, row: Array) -> tuple[TensorSpec, ...]:
    """The default outputs (:func:`_outputs`), as ``estimator`` answers ``row``."""
    outputs = []
    for name, method in _outputs(estimator, ()).items():
        answer = _call(estimator, method, row)
        shape = (-1, *answer.shape[1:])
        outputs.append(TensorSpec(name=name, datatype=oip_datatype(answer.dtype), shape=shape))
    return tuple(outputs)


def _call(estimator: Any, method: str, x: Array) -> Array:
    """``estimator.method(x)`` as one array, rows first: a multi-output classifier's
    ``predict_proba`` gives a list of ``[rows, classes]`` arrays, one per output, stacked here
    as ``[rows, outputs, classes]``."""
    answer = getattr(estimator, method)(x)
    if not isinstance(answer, list):
        return np.asarray(answer)
    shapes = sorted({np.shape(part) for part in answer})
    if len(shapes) > 1:
        raise InternalError(
            f"{type(estimator).__name__}.{method} gives one array per output, of shapes "
            f"{', '.join(str(list(shape)) for shape in shapes)}, which no one tensor holds"
        )
    return np.stack(answer, axis=1)


def _untrusted(skops_io: ModuleType, file: Path) -> list[str]:
    try:
        return list(skops_io.get_untrusted_types(file=file))
    except (ValueError, TypeError, KeyError, OSError, zipfile.BadZipFile) as exc:
        raise InvalidArgument(f"{file.name!r} is not a valid skops model") from exc


def _estimator(skops_io: ModuleType, file: Path, trusted: list[str]) -> Any:
    """The estimator in ``file``, loaded with ``trusted`` types beside those skops trusts."""
    try:
        estimator = skops_io.load(file, trusted=trusted)
    except (ValueError, TypeError, KeyError, OSError, zipfile.BadZipFile) as exc:
        raise InvalidArgument(f"{file.name!r} is not a valid skops model") from exc
    if not callable(getattr(estimator, "predict", None)):
        raise InvalidArgument(f"{file.name!r} holds no estimator with a predict method")
    names = named_columns(estimator)
    if names:
        raise InvalidArgument(
            f"{file.name!r} holds a {type(estimator).__name__} fitted on a DataFrame: its "
            f"ColumnTransformer picks columns by name ({', '.join(map(repr, names))}), and the "
            "sklearn runtime hands it a matrix, whose columns have no names: pick them by "
            "position (e.g. [0] for the first column) and fit it again, sending the columns "
            "in that order, or serve it with the python runtime (see examples/python-model)"
        )
    return estimator


def _outputs(estimator: Any, declared: tuple[str, ...]) -> dict[str, str]:
    """Output name → method for the ``declared`` outputs (or the defaults), matched by
    name; InvalidArgument for a name the runtime does not give, or whose method the
    estimator lacks, saying what it can give."""
    methods = {
        name: method
        for name, method in OUTPUT_METHODS.items()
        if callable(getattr(estimator, method, None))
    }
    default = CLASSIFIER_OUTPUTS if "probabilities" in methods else REGRESSOR_OUTPUTS
    names = declared or default
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
