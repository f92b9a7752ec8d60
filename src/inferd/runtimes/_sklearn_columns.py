"""What a fitted scikit-learn estimator tells of the columns of its input matrix.

A categorical encoder (``OneHotEncoder``, ``OrdinalEncoder``…) keeps the categories it was fitted
on in ``categories_``, one array per column it reads. Found where the input reaches one: the
estimator itself, the first step of a ``Pipeline`` (past column-keeping imputers), or the
transformers of a ``ColumnTransformer``, whose columns map back to the input's.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

#: Values named in an error, at most.
_SHOWN = 10
#: How scikit-learn refuses values of the client's (a 400, where any other ValueError is the
#: model's fault): a category a strict encoder (``handle_unknown='error'``) was not fitted on, a
#: string where it reads numbers (numpy's words), NaN or infinity where it takes neither, a
#: matrix of another width than it was fitted on (where the card declares none to check).
_UNKNOWN_CATEGORY = "Found unknown categories"
_NOT_A_NUMBER = "could not convert string to float"
_NOT_FINITE = ("contains NaN", "contains infinity")
_WIDTH = re.compile(r"X has \d+ features, but \w+ is expecting \d+ features as input")


def column_categories(estimator: Any) -> dict[int, np.ndarray]:
    """Input column → the categories an encoder was fitted on for it (an empty dict where no
    encoder reads the input, or where the estimator does not say which column it reads)."""
    categories = getattr(estimator, "categories_", None)
    if isinstance(categories, list):
        return {column: np.asarray(values) for column, values in enumerate(categories)}
    if hasattr(estimator, "transformers_"):
        return _column_transformer(estimator)
    steps = getattr(estimator, "steps", None)
    if isinstance(steps, list):
        for _, step in steps:
            found = column_categories(step)
            if found or not _keeps_columns(step):
                return found
    return {}


def known_values(estimator: Any, width: int) -> tuple[str | None, ...]:
    """For each of ``width`` input columns, the first string category an encoder was fitted on
    for it, or None where none is known (a numeric column, or no encoder found)."""
    categories = column_categories(estimator)
    return tuple(_first_text(categories.get(column, ())) for column in range(width))


def known_numbers(estimator: Any, width: int) -> tuple[float | None, ...]:
    """For each of ``width`` input columns, the first category an encoder was fitted on for it
    where those are numbers (integer-coded categories: a strict encoder refuses a zero it was
    not fitted on), or None."""
    categories = column_categories(estimator)
    return tuple(_first_number(categories.get(column, ())) for column in range(width))


def example_values(estimator: Any, width: int) -> tuple[str | float | None, ...]:
    """:func:`known_values`, with ``"0"`` in each column a ``ColumnTransformer`` hands to a
    transformer other than an encoder (a scaler, an imputer), passes through or drops
    (:func:`number_columns`): what a row of a BYTES input the model answers holds there; and
    :func:`known_numbers` where an encoder was fitted on numbers: what a row of numbers holds
    there."""
    numbers = number_columns(estimator)
    known = known_values(estimator, width)
    coded = known_numbers(estimator, width)
    return tuple(
        v if v is not None else "0" if c in numbers else coded[c] for c, v in enumerate(known)
    )


def number_columns(estimator: Any) -> frozenset[int]:
    """Input columns a ``ColumnTransformer`` reading the input (the estimator, or a pipeline's
    first step past column-keeping imputers) hands to a transformer no encoder is in, passes
    through or drops (where a number does as well as anything)."""
    steps = getattr(estimator, "steps", None)
    if isinstance(steps, list):
        reader = next((step for _, step in steps if not _keeps_columns(step)), None)
        return number_columns(reader) if reader is not None else frozenset()
    if not hasattr(estimator, "transformers_"):
        return frozenset()
    names = list(getattr(estimator, "feature_names_in_", ()))
    width = int(getattr(estimator, "n_features_in_", 0))
    found: set[int] = set()
    for _, inner, columns in estimator.transformers_:
        indices = _indices(columns, names, width)
        if indices is not None and (isinstance(inner, str) or not column_categories(inner)):
            found.update(indices)
    return frozenset(found)


def named_columns(estimator: Any) -> tuple[str, ...]:
    """The column names a ``ColumnTransformer`` reading the input (the estimator, or a
    pipeline's first step past column-keeping imputers) picks its columns by, as one fitted on
    a DataFrame by name does: a matrix has no names, so it cannot run on one. Empty where it
    picks them by position."""
    steps = getattr(estimator, "steps", None)
    if isinstance(steps, list):
        reader = next((step for _, step in steps if not _keeps_columns(step)), None)
        return named_columns(reader) if reader is not None else ()
    names: list[str] = []
    for _, _, columns in getattr(estimator, "transformers_", ()):
        picked = (
            [columns.start, columns.stop]
            if isinstance(columns, slice)
            else [columns]
            if isinstance(columns, str)
            else columns
        )
        names += [c for c in np.asarray(picked, dtype=object).ravel() if isinstance(c, str)]
    return tuple(dict.fromkeys(names))


def refused_values(estimator: Any, x: np.ndarray, error: str) -> str | None:
    """What in the matrix ``x`` the estimator refused, where its ValueError's text ``error``
    says it refused the client's values (:data:`_UNKNOWN_CATEGORY`…): completes "tensor 'input':
    …". None where the error is the model's own."""
    if _UNKNOWN_CATEGORY in error:
        return unknown_categories(estimator, x) or error
    width = _WIDTH.search(error)
    if width is not None:
        return width.group(0)
    if _NOT_A_NUMBER in error:
        return _not_a_number(estimator, x) or error
    if any(words in error for words in _NOT_FINITE):
        # Where only one of them is refused (an imputer takes NaN), that one is the client's.
        where = _not_finite(x, nan="contains NaN" in error, infinity="contains infinity" in error)
        if where is not None:
            row, column = where
            value = x[row : row + 1, column].tolist()[0]
            said = error.split("\n", 1)[0]
            return (
                f"row {row}, column {column} holds {value!r}, which the model does not take "
                f"(scikit-learn: {said})"
            )
    return None


def _not_a_number(estimator: Any, x: np.ndarray) -> str | None:
    """The first value of a column no encoder reads that is not a number, named."""
    encoded = column_categories(estimator)
    for column in range(x.shape[1]):
        if column in encoded:
            continue
        for value in x[:, column].tolist():
            if isinstance(value, str) and _number(value) is None:
                return (
                    f"column {column} holds {value!r}, not a number (the model reads numbers there)"
                )
    return None


def _not_finite(x: np.ndarray, *, nan: bool, infinity: bool) -> tuple[int, int] | None:
    """(row, column) of the first NaN (where ``nan``) or infinity (where ``infinity``) in ``x``
    (numbers, or strings of them)."""
    if x.dtype.kind in "fc":
        found = np.argwhere((np.isnan(x) & nan) | (np.isinf(x) & infinity))
        return (int(found[0][0]), int(found[0][1])) if len(found) else None
    if x.dtype.kind == "O":
        for (row, column), value in np.ndenumerate(x):
            number = _number(value) if isinstance(value, str) else value
            if isinstance(number, float) and (
                (nan and math.isnan(number)) or (infinity and math.isinf(number))
            ):
                return row, column
    return None


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def takes_strings(estimator: Any) -> bool:
    """Whether an encoder reading the input was fitted on strings (object arrays of ``str``)."""
    return any(_first_text(values) is not None for values in column_categories(estimator).values())


def unknown_categories(estimator: Any, x: np.ndarray) -> str | None:
    """Which column of the matrix ``x`` holds values its encoder was not fitted on, which values,
    and the categories it knows; None where no encoder found tells (the encoder is nested where
    :func:`column_categories` does not look)."""
    for column, values in sorted(column_categories(estimator).items()):
        if column >= x.shape[1]:
            continue
        known = values.tolist()
        known_set = set(known)
        unknown = [v for v in dict.fromkeys(x[:, column].tolist()) if v not in known_set]
        if unknown:
            sent = ", ".join(repr(v) for v in unknown[:_SHOWN])
            more = f", … ({len(known)} in all)" if len(known) > _SHOWN else ""
            return (
                f"column {column} holds {sent}, not among the categories the model was fitted "
                f"on there ({', '.join(repr(v) for v in known[:_SHOWN])}{more})"
            )
    return None


def _first_text(values: Sequence[object] | np.ndarray) -> str | None:
    return next((v for v in values if isinstance(v, str)), None)


def _first_number(values: Sequence[object] | np.ndarray) -> float | None:
    array = np.asarray(values)
    if array.size == 0 or array.dtype.kind not in "biuf":
        return None
    first = float(array.flat[0])
    return first if math.isfinite(first) else None


def _keeps_columns(step: Any) -> bool:
    """Whether a pipeline step hands on the columns it reads in number and order, so the
    encoder after it reads the input's: an imputer that adds no indicator columns."""
    return type(step).__name__ == "SimpleImputer" and not getattr(step, "add_indicator", False)


def _column_transformer(transformer: Any) -> dict[int, np.ndarray]:
    """Each transformer's categories, its columns mapped to the input's; transformers whose
    columns are not told as indices (or as names the transformer was fitted with) are skipped."""
    found: dict[int, np.ndarray] = {}
    names = list(getattr(transformer, "feature_names_in_", ()))
    width = int(getattr(transformer, "n_features_in_", 0))
    for _, inner, columns in transformer.transformers_:
        indices = _indices(columns, names, width)
        if indices is None or isinstance(inner, str):  # "drop" or "passthrough"
            continue
        for column, values in column_categories(inner).items():
            if column < len(indices):
                found[indices[column]] = values
    return found


def _indices(columns: Any, names: list[str], width: int) -> list[int] | None:
    if isinstance(columns, slice):
        return list(range(width))[columns]
    if isinstance(columns, (int, str, np.integer)):
        columns = [columns]
    picked = np.asarray(columns)
    if picked.dtype == bool and len(picked) == width:
        return [int(i) for i in np.flatnonzero(picked)]
    if picked.dtype.kind in "iu":
        return [int(i) % width if width else int(i) for i in picked]
    if picked.dtype.kind in "UO" and all(str(c) in names for c in picked):
        return [names.index(str(c)) for c in picked]
    return None
