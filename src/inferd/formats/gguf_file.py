"""What a GGUF file holds: the specification's value types, ggml's tensor and file type tables,
and :class:`GgufFile`, the description :func:`inferd.formats.gguf.read_gguf` returns.

The tables are data from llama.cpp (``ggml.h``, ``llama.h``); the reader that checks a file
against them is :mod:`inferd.formats.gguf`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal


class ValueType(enum.IntEnum):
    """The metadata value types of the GGUF specification."""

    UINT8 = 0
    INT8 = 1
    UINT16 = 2
    INT16 = 3
    UINT32 = 4
    INT32 = 5
    FLOAT32 = 6
    BOOL = 7
    STRING = 8
    ARRAY = 9
    UINT64 = 10
    INT64 = 11
    FLOAT64 = 12


#: struct codes of the fixed-size value types (the reader prefixes the byte order).
SCALAR_CODES: dict[ValueType, str] = {
    ValueType.UINT8: "B",
    ValueType.INT8: "b",
    ValueType.UINT16: "H",
    ValueType.INT16: "h",
    ValueType.UINT32: "I",
    ValueType.INT32: "i",
    ValueType.FLOAT32: "f",
    ValueType.BOOL: "B",
    ValueType.UINT64: "Q",
    ValueType.INT64: "q",
    ValueType.FLOAT64: "d",
}

#: ggml tensor types: number → (name, elements per block, bytes per block). The numbers of
#: types llama.cpp removed (4, 5, 31 to 33, 36 to 38) are never valid in a file.
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34),
    9: ("Q8_1", 32, 40),
    10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210),
    15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66),
    17: ("IQ2_XS", 256, 74),
    18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18),
    21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82),
    23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1),
    25: ("I16", 1, 2),
    26: ("I32", 1, 4),
    27: ("I64", 1, 8),
    28: ("F64", 1, 8),
    29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2),
    34: ("TQ1_0", 256, 54),
    35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17),
    40: ("NVFP4", 64, 36),
    41: ("Q1_0", 128, 18),
}

#: ``general.file_type`` (llama.cpp's ``llama_ftype``) → the name its tools print.
FILE_TYPES: dict[int, str] = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    4: "Q4_1_SOME_F16",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
    36: "TQ1_0",
    37: "TQ2_0",
    38: "MXFP4_MOE",
    39: "NVFP4",
    40: "Q1_0",
}
#: llama.cpp ORs this into ``general.file_type`` when the type was guessed from the tensors.
FILE_TYPE_GUESSED = 1024


@dataclass(frozen=True, slots=True)
class GgufArray:
    """An array value: its element type and length. Elements are skipped, never kept."""

    item_type: ValueType
    length: int


Value = int | float | bool | str | GgufArray


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """One tensor's description. ``shape`` is in ggml order (``ne[0]``, the row length, first);
    ``offset`` is absolute in the file."""

    name: str
    shape: tuple[int, ...]
    type_name: str
    elements: int
    offset: int
    nbytes: int


@dataclass(frozen=True, slots=True)
class GgufFile:
    """What :func:`read_gguf` found: everything but the tensor data."""

    version: int
    byte_order: Literal["little", "big"]
    metadata: Mapping[str, Value]
    tensors: tuple[TensorInfo, ...]
    alignment: int
    #: Where the tensor data starts (after the infos and padding).
    data_offset: int
    size: int

    def _int(self, key: str) -> int | None:
        value = self.metadata.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def architecture(self) -> str | None:
        """``general.architecture`` (``llama``, ``qwen2``…), the prefix of its own keys."""
        value = self.metadata.get("general.architecture")
        return value if isinstance(value, str) and value else None

    @property
    def parameter_count(self) -> int:
        """The sum of every tensor's element count."""
        return sum(t.elements for t in self.tensors)

    @property
    def context_length(self) -> int | None:
        """``<arch>.context_length``: the context the model was trained for."""
        arch = self.architecture
        return None if arch is None else self._int(f"{arch}.context_length")

    @property
    def vocab_size(self) -> int | None:
        """``<arch>.vocab_size``, else the length of ``tokenizer.ggml.tokens``."""
        arch = self.architecture
        declared = None if arch is None else self._int(f"{arch}.vocab_size")
        if declared is not None:
            return declared
        tokens = self.metadata.get("tokenizer.ggml.tokens")
        return tokens.length if isinstance(tokens, GgufArray) else None

    @property
    def has_chat_template(self) -> bool:
        """Whether ``tokenizer.chat_template`` (or a named ``tokenizer.chat_template.NAME``)
        holds a template."""
        return any(
            (key == "tokenizer.chat_template" or key.startswith("tokenizer.chat_template."))
            and isinstance(value, str)
            and bool(value)
            for key, value in self.metadata.items()
        )

    @property
    def file_type(self) -> str | None:
        """``general.file_type`` as llama.cpp names it (``Q4_K_M``, ``F16``…); ``unknown (N)``
        for a number this reader does not know; None when the key is absent."""
        number = self._int("general.file_type")
        if number is None:
            return None
        guessed = number & FILE_TYPE_GUESSED
        name = FILE_TYPES.get(number & ~FILE_TYPE_GUESSED, f"unknown ({number})")
        return f"{name} (guessed)" if guessed else name

    @property
    def tensor_types(self) -> dict[str, int]:
        """Elements per ggml tensor type, largest first."""
        counts: dict[str, int] = {}
        for tensor in self.tensors:
            counts[tensor.type_name] = counts.get(tensor.type_name, 0) + tensor.elements
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
