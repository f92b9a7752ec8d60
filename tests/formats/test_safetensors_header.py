"""inferd's safetensors header reader: dtypes and parameter counts, and what it refuses."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from inferd.formats.safetensors import MalformedSafetensors, read_safetensors
from llm_files import tensor, write_safetensors


def test_dtypes_and_parameter_count(tmp_path: Path) -> None:
    path = write_safetensors(
        tmp_path / "model.safetensors",
        {
            "embed": tensor(np.zeros((10, 4), dtype=np.uint16), "BF16"),
            "norm": tensor(np.ones(4, dtype=np.float32)),
            "head": tensor(np.zeros((3, 4), dtype=np.float16)),
            "scalar": tensor(np.zeros((), dtype=np.int64)),
        },
        metadata={"format": "pt", "note": "x"},
    )
    header = read_safetensors(path)
    assert header.parameter_count == 40 + 4 + 12 + 1
    assert header.dtypes == {"BF16": 40, "F32": 4, "F16": 12, "I64": 1}
    assert header.metadata == {"format": "pt", "note": "x"}
    assert header.data_bytes == 80 + 16 + 24 + 8
    assert [t.shape for t in header.tensors] == [(10, 4), (4,), (3, 4), ()]


def _raw(header: object, data: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def _entry(dtype: str, shape: list[int], begin: int, end: int) -> dict[str, object]:
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


MALFORMED: dict[str, tuple[bytes, str]] = {
    "short": (b"\x01\x00", r"2 bytes, shorter than the 8-byte header length"),
    "absurd header": (struct.pack("<Q", 2**40), r"header claims 1099511627776 bytes \(limit"),
    "header past the end": (struct.pack("<Q", 64) + b"{}", r"header claims 64 bytes, the file"),
    "not JSON": (struct.pack("<Q", 3) + b"{x}", r"header is not JSON"),
    "not an object": (_raw([], b""), r"not a JSON object"),
    "unknown dtype": (_raw({"w": _entry("Q4", [2], 0, 1)}, b"\x00"), r"'w' has unknown dtype"),
    "bad shape": (_raw({"w": _entry("U8", [-1], 0, 1)}, b"\x00"), r"'w' has shape \[-1\]"),
    "bad offsets": (_raw({"w": _entry("U8", [1], 1, 0)}, b"\x00"), r"'w' has data_offsets"),
    "size mismatch": (
        _raw({"w": _entry("F32", [2], 0, 4)}, b"\x00" * 4),
        r"'w' \(F32, shape \[2\]\) needs 8 bytes, its data_offsets span 4",
    ),
    # 4,000 sizes of 2^63 - 1: the product was taken whole (quadratic in the dimensions) and
    # then overflowed a float in the message (OverflowError, not a refusal).
    "more elements than 2^64": (
        _raw({"w": _entry("F32", [2**63 - 1] * 4000, 0, 4)}, b"\x00" * 4),
        r"'w' has shape \[9223372036854775807, .*, … \(4000 dimensions\)\]: more than 2\^64",
    ),
    "a long shape is shortened": (
        _raw({"w": _entry("U8", [1] * 100_000, 0, 2)}, b"\x00" * 2),
        r"'w' \(U8, shape \[1, 1, 1, 1, 1, 1, 1, 1, … \(100000 dimensions\)\]\) needs 1 bytes, "
        r"its data_offsets span 2$",
    ),
    "gap": (
        _raw({"a": _entry("U8", [1], 0, 1), "b": _entry("U8", [1], 2, 3)}, b"\x00" * 3),
        r"'b' at data offset 2 leaves a gap",
    ),
    "overlap": (
        _raw({"a": _entry("U8", [2], 0, 2), "b": _entry("U8", [1], 1, 2)}, b"\x00" * 2),
        r"overlaps the tensor before it",
    ),
    "trailing bytes": (
        _raw({"a": _entry("U8", [1], 0, 1)}, b"\x00" * 2),
        r"the tensors cover 1 bytes of data, the file holds 2 after the header",
    ),
    "metadata not strings": (_raw({"__metadata__": {"n": 1}}, b""), r"__metadata__ is not"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_headers_are_refused(tmp_path: Path, case: str) -> None:
    content, problem = MALFORMED[case]
    path = tmp_path / "w.safetensors"
    path.write_bytes(content)
    with pytest.raises(MalformedSafetensors, match=problem) as refused:
        read_safetensors(path)
    assert str(refused.value).startswith("'w.safetensors' is not a valid safetensors file: ")
