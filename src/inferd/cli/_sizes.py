"""Sizes given on the command line (``--memory-budget``, ``gc --max-size``)."""

from __future__ import annotations

import math

from inferd.errors import InvalidArgument

_SIZE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def parse_size(text: str) -> int:
    """``10G``, ``512M``, ``1.5GiB``, ``10Gi`` (a Kubernetes quantity), ``2048`` -> bytes
    (binary units, as ``du -h`` shows)."""
    value = text.strip().upper().removesuffix("B")
    if value[-2:-1] in ("K", "M", "G", "T") and value.endswith("I"):
        value = value[:-1]  # 10GiB, 10Gi: the same binary unit
    unit = value[-1:] if value[-1:] in _SIZE_UNITS else ""
    number = value[: len(value) - len(unit)]
    try:
        size = float(number) * _SIZE_UNITS[unit]
    except ValueError:
        size = math.nan
    if not math.isfinite(size):  # not a number, or nan and inf, which float() reads
        raise InvalidArgument(f"{text!r} is not a size such as 10G, 512M or 1048576")
    if size < 0:
        raise InvalidArgument(f"{text!r}: a size cannot be negative")
    return int(size)
