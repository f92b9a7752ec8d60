"""Reference profiles: per-feature histograms of training data, computed when a model is pushed.

``inferd push … --reference-data FILE`` reads training rows from a ``.npy``, an ``.npz`` (one
array per input, keyed by input name) or a CSV with a header row, and stores the result in the
model card (:class:`inferd.card.ReferenceProfile`). The format is told by the file's first bytes,
never its name, and NumPy files load with ``allow_pickle=False``: reference data is data, and a
file that needs pickle to load is refused.

Each feature (an index on an input's last axis) gets quantile cut points, so every bin holds
about the same share of training rows, plus mean, std, min and max. A feature with at most
``bins`` distinct values (a flag, a category) is cut at each value instead, a bin per value.
The profile stays a few KB: :data:`MAX_FEATURES` bounds its size, and with it the drift series
a server exports.

Missing values (NaN; in a CSV also an empty field and the markers in :data:`MISSING_MARKERS`)
are their own category, as in Evidently or whylogs: each feature keeps the share of rows where
it is missing, and its bins and moments describe the values that are there. Infinite values are
refused, naming the feature: they are mostly a division by zero upstream, and a profile cannot
say where they lie; write NaN where a value is missing.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from inferd.card import FeatureProfile, InputProfile, ReferenceProfile, Signature
from inferd.errors import InvalidArgument

#: Histogram bins per feature (deciles of the training data).
DEFAULT_BINS = 10
#: Features across all inputs a profile may hold; each becomes drift series on every server.
MAX_FEATURES = 256
#: Longest feature name (a CSV column), since it becomes a metric label value.
MAX_NAME = 128
#: CSV fields that mean "missing" besides an empty one (pandas' and R's usual spellings); any
#: spelling of NaN parses as NaN already.
MISSING_MARKERS = frozenset({"na", "n/a", "<na>", "null", "none", "#n/a"})
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK\x03\x04"


def feature_profile(name: str, values: NDArray[np.float64], bins: int) -> FeatureProfile:
    """The histogram and moments of one feature's ``values``: finite, or NaN where missing (at
    least one finite); the share of NaN is the profile's ``missing``."""
    absent = np.isnan(values)
    missing = float(absent.sum() / len(values))
    values = values[~absent]
    # Cut points are observed values (no interpolation). A feature with at most ``bins``
    # distinct values (a flag, a category, a count) is cut at every one of them, so each value
    # has a bin of its own: its deciles would merge values (a flag set in 8% of rows has every
    # decile at 0, so 0 and 1 would share a bin and its flipping would never read as drift).
    distinct = np.unique(values)
    if len(distinct) <= bins:
        edges = distinct
    else:
        quantiles = np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1], method="inverted_cdf")
        # Equal quantiles would make empty bins: merged. Each value they were (a point mass of
        # more than a bin's rows: the zeros of an amount that is mostly 0) is also cut at the
        # next observed value above it, so it keeps a bin of its own rather than sharing one
        # with every larger value (whose share could then grow unseen).
        cuts, counts = np.unique(quantiles, return_counts=True)
        masses = cuts[counts > 1]
        nxt = np.searchsorted(distinct, masses, side="right")
        above = distinct[np.minimum(nxt, len(distinct) - 1)]
        edges = np.unique(np.concatenate([cuts, above[nxt < len(distinct)]]))
    counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
    proportions = counts / counts.sum()
    return FeatureProfile(
        name=name,
        edges=tuple(float(e) for e in edges),
        proportions=tuple(float(p) for p in proportions),
        mean=float(values.mean()),
        std=float(values.std()),
        min=float(values.min()),
        max=float(values.max()),
        missing=missing,
    )


def input_profile(
    name: str, rows: NDArray[np.generic], bins: int, feature_names: tuple[str, ...] | None = None
) -> InputProfile:
    """Profile one input from its training rows (first axis: rows; last axis: features)."""
    data = np.asarray(rows)
    if data.dtype.kind not in "biuf":
        raise InvalidArgument(f"reference data for input {name!r} is not numeric ({data.dtype})")
    if data.ndim == 0 or data.size == 0:
        raise InvalidArgument(f"reference data for input {name!r} holds no rows")
    matrix = data.astype(np.float64).reshape(-1, 1 if data.ndim == 1 else data.shape[-1])
    names = feature_names or tuple(str(i) for i in range(matrix.shape[1]))
    infinite = np.isinf(matrix).sum(axis=0)
    for i in np.flatnonzero(infinite):
        raise InvalidArgument(
            f"reference data: feature {names[i]!r} of input {name!r} holds {int(infinite[i])} "
            "infinite value(s); a profile bins finite values (write NaN where a value is missing)"
        )
    for i in np.flatnonzero(np.isnan(matrix).all(axis=0)):
        raise InvalidArgument(
            f"reference data: feature {names[i]!r} of input {name!r} is missing (NaN) in every "
            "row, so there is nothing to profile"
        )
    return InputProfile(
        name=name,
        features=tuple(
            feature_profile(names[i], matrix[:, i], bins) for i in range(matrix.shape[1])
        ),
    )


def build_profile(
    inputs: Mapping[str, NDArray[np.generic]],
    *,
    bins: int = DEFAULT_BINS,
    feature_names: Mapping[str, tuple[str, ...]] | None = None,
) -> ReferenceProfile:
    """A profile of every input in ``inputs`` (name → training rows); rows must agree."""
    if bins < 2:
        raise InvalidArgument(f"a reference profile needs at least 2 bins, not {bins}")
    if not inputs:
        raise InvalidArgument("reference data holds no inputs")
    lengths = {name: len(rows) if np.ndim(rows) else 0 for name, rows in sorted(inputs.items())}
    counts = set(lengths.values())
    if len(counts) != 1:
        shown = ", ".join(f"{name!r} {n}" for name, n in lengths.items())
        raise InvalidArgument(
            f"reference data inputs have different numbers of rows: {shown} (each input's first "
            "axis is its rows)"
        )
    width = sum(1 if np.ndim(r) <= 1 else np.shape(r)[-1] for r in inputs.values())
    if width > MAX_FEATURES:
        raise InvalidArgument(
            f"reference data has {width} features; a profile holds at most {MAX_FEATURES}"
        )
    names = feature_names or {}
    profiles = tuple(
        input_profile(name, rows, bins, names.get(name)) for name, rows in sorted(inputs.items())
    )
    return ReferenceProfile(rows=counts.pop(), inputs=profiles)


def read_reference_data(file: Path, signature: Signature) -> ReferenceProfile:
    """Profile the training rows in ``file`` for a model with ``signature``.

    A ``.npz`` maps its arrays to inputs by name; a ``.npy`` or a CSV is the one input of a
    single-input model, a CSV's header naming the features. Errors name the file, never its path.
    """
    _has_inputs(signature)
    try:
        with file.open("rb") as handle:
            head = handle.read(len(_NPY_MAGIC))
    except OSError:
        raise InvalidArgument(f"reference data {file.name!r} is not readable") from None
    if head.startswith(_ZIP_MAGIC):
        profile = build_profile(_npz(file, signature))
    elif head.startswith(_NPY_MAGIC):
        profile = build_profile({_single_input(file, signature): _npy(file)})
    else:
        header, rows = _csv(file)
        name = _single_input(file, signature)
        profile = build_profile({name: rows}, feature_names={name: header})
    check_profile(profile, signature)
    return profile


def check_profile(profile: ReferenceProfile, signature: Signature) -> None:
    """Raise InvalidArgument unless every profiled input is a numeric input of ``signature``
    whose last dimension (when fixed) equals its number of profiled features, each feature
    named once."""
    _has_inputs(signature)
    specs = {spec.name: spec for spec in signature.inputs}
    seen_inputs: set[str] = set()
    for item in profile.inputs:
        if item.name in seen_inputs:
            raise InvalidArgument(f"the reference profile describes input {item.name!r} twice")
        seen_inputs.add(item.name)
        names = [f.name for f in item.features]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            # Each name is a metric label value: two features of one name would be one series.
            raise InvalidArgument(
                f"the reference profile names features of input {item.name!r} twice: {twice}; "
                "feature names (a CSV's column names) must be unique"
            )
        spec = specs.get(item.name)
        if spec is None:
            raise InvalidArgument(
                f"the reference profile describes {item.name!r}, which is not an input of the "
                f"model (inputs: {sorted(specs)})"
            )
        if spec.datatype == "BYTES":
            # Drift bins numbers; a BYTES input's strings never reach the bins.
            raise InvalidArgument(
                f"the reference profile describes {item.name!r}, a BYTES input; drift is "
                "measured on numeric and BOOL inputs only (profile the others)"
            )
        width = spec.shape[-1] if len(spec.shape) > 1 else 1
        if width > 0 and width != len(item.features):
            raise InvalidArgument(
                f"the reference profile has {len(item.features)} features for input "
                f"{item.name!r}, whose last dimension is {width}"
            )


def _has_inputs(signature: Signature) -> None:
    if not signature.inputs:
        raise InvalidArgument(
            "the model declares no inputs, so a reference profile has nothing to describe: "
            "declare them (inputs: in inferd.model.yaml, or --signature FILE)"
        )


def _single_input(file: Path, signature: Signature) -> str:
    names = [spec.name for spec in signature.inputs]
    if len(names) != 1:
        raise InvalidArgument(
            f"reference data {file.name!r} holds one array, but the model has "
            f"{len(names)} inputs; use an .npz with one array per input name"
        )
    return names[0]


def _npy(file: Path) -> NDArray[np.generic]:
    try:
        array: NDArray[np.generic] = np.load(file, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        raise InvalidArgument(
            f"reference data {file.name!r} is not a plain numeric .npy (pickled objects are "
            "refused)"
        ) from None
    return array


def _npz(file: Path, signature: Signature) -> dict[str, NDArray[np.generic]]:
    try:
        with np.load(file, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        raise InvalidArgument(
            f"reference data {file.name!r} is not a plain numeric .npz (pickled objects are "
            "refused)"
        ) from None
    known = {spec.name for spec in signature.inputs}
    if len(arrays) == 1 and len(known) == 1 and not set(arrays) & known:
        return {known.pop(): next(iter(arrays.values()))}
    unknown = sorted(set(arrays) - known)
    if unknown:
        raise InvalidArgument(
            f"reference data {file.name!r} names {unknown}, which are not inputs of the model "
            f"(inputs: {sorted(known)})"
        )
    return arrays


def _csv(file: Path) -> tuple[tuple[str, ...], NDArray[np.float64]]:
    try:
        # utf-8-sig: a byte order mark (Excel's "CSV UTF-8") is not part of the first name.
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        raise InvalidArgument(
            f"reference data {file.name!r} is neither NumPy data nor a UTF-8 CSV"
        ) from None
    if text.lstrip().startswith(("{", "[")):
        raise InvalidArgument(
            f"reference data {file.name!r} looks like JSON, which is not a reference data "
            "format: give a .npy, an .npz or a CSV with a header row"
        )
    reader = csv.reader(io.StringIO(text))
    first = next((record for record in reader if record), [])  # blank lines before it skipped
    header = tuple(h.strip() for h in first)
    if not header or not any(header):
        raise InvalidArgument(f"reference data {file.name!r}: the CSV needs a header row")
    other = [d for d in (";", "\t", "|") if len(header) == 1 and d in header[0]]
    if other:
        raise InvalidArgument(
            f"reference data {file.name!r}: the header row is separated by {other[0]!r}, not "
            "commas; save the CSV comma-separated (pandas: to_csv(..., sep=','))"
        )
    # Numbers, and empty fields (missing values), unless pandas' names of unnamed columns.
    named = tuple(h for h in header if h)
    if named != tuple(str(i) for i in range(len(named))) and all(_is_number(h) for h in named):
        raise InvalidArgument(
            f"reference data {file.name!r}: the first line holds numbers, not column names; "
            "the CSV needs a header row"
        )
    unnamed = [i + 1 for i, h in enumerate(header) if not h]
    if unnamed:
        hint = (
            " (an index pandas wrote? save with to_csv(..., index=False))" if unnamed == [1] else ""
        )
        raise InvalidArgument(
            f"reference data {file.name!r}: header column(s) {unnamed} have no name{hint}"
        )
    if any(len(h) > MAX_NAME for h in header):
        raise InvalidArgument(
            f"reference data {file.name!r}: column names are at most {MAX_NAME} characters"
        )
    rows: list[list[float]] = []
    for record in reader:
        if not record:
            continue
        line = reader.line_num
        if len(record) != len(header):
            raise InvalidArgument(
                f"reference data {file.name!r} line {line}: {len(record)} values for "
                f"{len(header)} columns"
            )
        rows.append(
            [
                _number(file, line, column, value)
                for column, value in zip(header, record, strict=True)
            ]
        )
    if not rows:
        raise InvalidArgument(f"reference data {file.name!r}: the CSV has no data rows")
    return header, np.asarray(rows, dtype=np.float64)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _number(file: Path, line: int, column: str, value: str) -> float:
    if not value.strip() or value.strip().lower() in MISSING_MARKERS:
        return float("nan")
    try:
        return float(value)
    except ValueError:
        shown = value if len(value) <= 32 else value[:32] + "…"
        raise InvalidArgument(
            f"reference data {file.name!r} line {line}, column {column!r}: {shown!r} is not a "
            "number (a profile holds numeric features only)"
        ) from None
