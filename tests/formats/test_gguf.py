"""inferd's own GGUF reader against files the ``gguf`` package writes, and against crafted ones.

The tiny llama of examples/llm is the real file; the ``gguf`` package's reader is the second
opinion on what it holds. Malformed files are built byte by byte here, one problem each, and
every one must be refused as :class:`MalformedGguf` naming the problem (never another exception,
never a hang on an absurd count).
"""

from __future__ import annotations

import struct
from pathlib import Path

import gguf
import numpy as np
import pytest
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType, LlamaFileType

from inferd.errors import InvalidArgument
from inferd.formats.gguf import MalformedGguf, is_gguf, read_gguf
from inferd.formats.gguf_file import FILE_TYPES, GGML_TYPES, GgufArray, GgufFile, ValueType
from llm_files import make_model_module, tiny_gguf


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf")


def test_the_tiny_model_card_fields(tiny: Path) -> None:
    model = read_gguf(tiny)
    tokens, _types, _merges = make_model_module.vocabulary()
    embedding, layers, ff = 64, 2, 128
    per_layer = 2 * embedding + 4 * embedding * embedding + 3 * ff * embedding
    expected = 2 * len(tokens) * embedding + embedding + layers * per_layer
    assert (model.version, model.byte_order, model.alignment) == (3, "little", 32)
    assert model.architecture == "llama"
    assert model.parameter_count == expected == 116_288
    assert model.context_length == 512
    assert model.vocab_size == len(tokens) == 266
    assert model.file_type == "F16"
    assert model.has_chat_template is True
    assert model.tensor_types == {"F16": expected - 5 * embedding, "F32": 5 * embedding}
    assert model.metadata["tokenizer.ggml.tokens"] == GgufArray(ValueType.STRING, 266)
    assert model.metadata["tokenizer.chat_template"] == make_model_module.CHAT_TEMPLATE


def test_the_tiny_model_is_deterministic(tiny: Path, tmp_path: Path) -> None:
    assert tiny_gguf(tmp_path / "again.gguf").read_bytes() == tiny.read_bytes()
    other = tiny_gguf(tmp_path / "other.gguf", seed=1).read_bytes()
    assert other != tiny.read_bytes() and len(other) == len(tiny.read_bytes())


def test_agrees_with_the_gguf_package_reader(tiny: Path) -> None:
    ours = read_gguf(tiny)
    theirs = gguf.GGUFReader(tiny)
    assert [t.name for t in ours.tensors] == [t.name for t in theirs.tensors]
    assert [t.elements for t in ours.tensors] == [int(t.n_elements) for t in theirs.tensors]
    assert [t.offset for t in ours.tensors] == [int(t.data_offset) for t in theirs.tensors]
    assert [t.nbytes for t in ours.tensors] == [int(t.n_bytes) for t in theirs.tensors]
    assert [t.shape for t in ours.tensors] == [
        tuple(int(d) for d in t.shape) for t in theirs.tensors
    ]
    assert [t.type_name for t in ours.tensors] == [t.tensor_type.name for t in theirs.tensors]
    # GGUFReader also lists the header's own fields (GGUF.version…) as fields.
    assert set(ours.metadata) == {k for k in theirs.fields if not k.startswith("GGUF.")}
    assert ours.data_offset == theirs.data_offset


def test_the_type_tables_match_ggml() -> None:
    assert {number: (name, block, size) for number, (name, block, size) in GGML_TYPES.items()} == {
        t.value: (t.name, *GGML_QUANT_SIZES[t]) for t in GGMLQuantizationType
    }
    known = {
        t.value: t.name.removeprefix("MOSTLY_").removeprefix("ALL_")
        for t in LlamaFileType
        if t != LlamaFileType.GUESSED
    }
    # 4 (Q4_1 with some F16) is a number llama.cpp still reserves; gguf-py dropped it.
    assert {k: v for k, v in FILE_TYPES.items() if k != 4} == known


@pytest.mark.parametrize("endian", [gguf.GGUFEndian.LITTLE, gguf.GGUFEndian.BIG])
def test_every_value_type(tmp_path: Path, endian: gguf.GGUFEndian) -> None:
    path = tmp_path / "values.gguf"
    writer = gguf.GGUFWriter(path, "llama", endianess=endian)
    writer.add_uint8("v.u8", 250)
    writer.add_int8("v.i8", -5)
    writer.add_uint16("v.u16", 65_000)
    writer.add_int16("v.i16", -30_000)
    writer.add_uint32("v.u32", 4_000_000_000)
    writer.add_int32("v.i32", -2_000_000_000)
    writer.add_float32("v.f32", 0.5)
    writer.add_bool("v.bool", True)
    writer.add_string("v.str", "héllo")
    writer.add_uint64("v.u64", 2**64 - 1)
    writer.add_int64("v.i64", -(2**63))
    writer.add_float64("v.f64", 1e300)
    writer.add_array("v.ints", [1, 2, 3])
    writer.add_array("v.strs", ["a", "bc", ""])
    writer.add_array("v.bools", [True, False])
    writer.add_array("v.floats", [0.25, 0.5])
    writer.add_tensor("w", np.arange(64, dtype=np.float32).reshape(2, 32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    model = read_gguf(path)
    assert model.byte_order == ("big" if endian == gguf.GGUFEndian.BIG else "little")
    values = {k.removeprefix("v."): v for k, v in model.metadata.items() if k.startswith("v.")}
    assert values == {
        "u8": 250,
        "i8": -5,
        "u16": 65_000,
        "i16": -30_000,
        "u32": 4_000_000_000,
        "i32": -2_000_000_000,
        "f32": 0.5,
        "bool": True,
        "str": "héllo",
        "u64": 2**64 - 1,
        "i64": -(2**63),
        "f64": 1e300,
        "ints": GgufArray(ValueType.INT32, 3),
        "strs": GgufArray(ValueType.STRING, 3),
        "bools": GgufArray(ValueType.BOOL, 2),
        "floats": GgufArray(ValueType.FLOAT32, 2),
    }
    (w,) = model.tensors
    assert (w.name, w.shape, w.type_name, w.elements, w.nbytes) == ("w", (32, 2), "F32", 64, 256)
    assert model.architecture == "llama"
    assert (model.context_length, model.vocab_size, model.file_type) == (None, None, None)
    assert model.has_chat_template is False


# --- crafted files: a little builder, one problem per case ---------------------------------


def _str(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


def _kv(key: str | bytes, kind: int, payload: bytes) -> bytes:
    return _str(key) + struct.pack("<I", kind) + payload


def _u32(key: str, value: int) -> bytes:
    return _kv(key, ValueType.UINT32, struct.pack("<I", value))


def _info(name: str, shape: tuple[int, ...], kind: int = 0, offset: int = 0) -> bytes:
    dims = b"".join(struct.pack("<Q", d) for d in shape)
    return _str(name) + struct.pack("<I", len(shape)) + dims + struct.pack("<IQ", kind, offset)


def _file(
    kvs: tuple[bytes, ...] = (),
    infos: tuple[bytes, ...] = (),
    data: bytes = b"",
    *,
    head: bytes = b"GGUF" + struct.pack("<I", 3),
    counts: tuple[int, int] | None = None,
    alignment: int = 32,
) -> bytes:
    tensors, entries = counts if counts is not None else (len(infos), len(kvs))
    body = head + struct.pack("<QQ", tensors, entries) + b"".join(kvs) + b"".join(infos)
    return body + b"\x00" * (-len(body) % alignment) + data


ARCH = _kv("general.architecture", ValueType.STRING, _str("llama"))
F32_ROW = _info("w", (8,))  # 8 floats = 32 bytes at offset 0

MALFORMED: dict[str, tuple[bytes, str]] = {
    "empty": (b"", r"truncated: 0 bytes"),
    "wrong magic": (b"GGUX" + _file()[4:], r"starts with b'GGUX', not the magic b'GGUF'"),
    "version 1": (_file(head=b"GGUF" + struct.pack("<I", 1)), r"version 1 .* not supported"),
    "unknown version": (_file(head=b"GGUF" + struct.pack("<I", 9)), r"unknown version 9"),
    "truncated counts": (
        b"GGUF" + struct.pack("<IQ", 3, 0) + b"\x00\x00",
        r"truncated: the metadata count",
    ),
    "absurd tensor count": (_file(counts=(2**40, 0)), r"claims 1099511627776 tensors"),
    "absurd metadata count": (_file(counts=(0, 2**62)), r"claims 4611686018427387904 metadata"),
    "absurd key length": (
        _file((struct.pack("<Q", 2**62) + b"k",), counts=(0, 1)),
        r"the key of metadata entry 0 at byte 24 claims 4611686018427387904 bytes \(limit 65535\)",
    ),
    "string past the end": (
        _file((_kv("s", ValueType.STRING, struct.pack("<Q", 1000) + b"abc"),)),
        r"truncated: the value of 's' at byte \d+ claims 1000 bytes, the file has \d+ left",
    ),
    "empty key": (_file((_u32("", 1),)), r"metadata entry 0 has an empty key"),
    "key not UTF-8": (_file((_u32("x", 1)[:8] + b"\xff" + _u32("x", 1)[9:],)), r"not UTF-8"),
    "unknown value type": (
        _file((_kv("k", 13, b"\x00"),)),
        r"metadata 'k' has unknown value type 13",
    ),
    "nested array": (
        _file((_kv("a", ValueType.ARRAY, struct.pack("<IQ", ValueType.ARRAY, 1)),)),
        r"array 'a' holds arrays; nested arrays are not supported",
    ),
    "absurd array length": (
        _file((_kv("a", ValueType.ARRAY, struct.pack("<IQ", ValueType.UINT32, 2**61)),)),
        r"array 'a' claims 2305843009213693952 elements",
    ),
    "duplicate key": (_file((_u32("k", 1), _u32("k", 2))), r"metadata key 'k' appears twice"),
    "bool not 0 or 1": (_file((_kv("b", ValueType.BOOL, b"\x02"),)), r"the bool 'b' holds 2"),
    "alignment not a power of two": (
        _file((_u32("general.alignment", 24),)),
        r"general.alignment is 24, not a power of two",
    ),
    "alignment a string": (
        _file((_kv("general.alignment", ValueType.STRING, _str("32")),)),
        r"general.alignment is '32', not a positive integer",
    ),
    "five dimensions": (_file((ARCH,), (_info("w", (1, 1, 1, 1, 1)),)), r"'w' has 5 dimensions"),
    "tensor name too long": (
        _file((ARCH,), (_info("n" * 64, (1,)),)),
        r"claims 64 bytes \(limit 63\)",
    ),
    "unknown ggml type": (
        _file((ARCH,), (_info("w", (32,), kind=4),)),
        r"'w' has unknown ggml type 4",
    ),
    "rows not whole blocks": (
        _file((ARCH,), (_info("w", (31,), kind=8),), b"\x00" * 64),
        r"'w' \(Q8_0\) has rows of 31 elements, not whole blocks of 32",
    ),
    # llama.cpp refuses both ("failed to read tensor info"): it reads missing dimensions as 1
    # and every dimension as int64; a zero dimension once hid the others from the product.
    "no dimensions, quantized": (
        _file((ARCH,), (_info("w", (), kind=2),), b"\x00" * 32),
        r"'w' \(Q4_0\) has rows of 1 elements, not whole blocks of 32",
    ),
    "a dimension beyond int64 after a zero": (
        _file((ARCH,), (_info("w", (0, 2**64 - 1)),)),
        r"'w' dimension 1 is 18446744073709551615, more than int64 holds",
    ),
    "more elements than int64": (
        _file((ARCH,), (_info("w", (2**32, 2**32)),)),
        r"more than int64 holds",
    ),
    "truncated tensor info": (
        _file((ARCH,), (F32_ROW[:-3],), alignment=1),
        r"truncated: the offset of tensor 'w' at byte \d+ needs 8 bytes, the file has 5 left",
    ),
    "offset beyond the file": (
        _file((ARCH,), (_info("w", (8,), offset=1 << 40),), b"\x00" * 32),
        r"tensor 'w' \(F32, 32 bytes at data offset 1099511627776\) ends at byte \d+, beyond "
        r"the end of the file \(\d+ bytes\)",
    ),
    "data cut short": (_file((ARCH,), (F32_ROW,), b"\x00" * 31), r"beyond the end of the file"),
    "misaligned offset": (
        _file((ARCH,), (_info("w", (8,), offset=16),), b"\x00" * 64),
        r"'w' data offset 16 is misaligned \(not a multiple of general.alignment 32\)",
    ),
    "overlapping tensors": (
        _file((ARCH,), (_info("a", (16,)), _info("b", (8,), offset=32)), b"\x00" * 64),
        r"tensor 'b' overlaps tensor 'a'",
    ),
    "duplicate tensor names": (
        _file((ARCH,), (_info("w", (8,)), _info("w", (8,), offset=32)), b"\x00" * 64),
        r"tensor name 'w' appears twice",
    ),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_files_are_refused_naming_the_problem(tmp_path: Path, case: str) -> None:
    content, problem = MALFORMED[case]
    path = tmp_path / "model.gguf"
    path.write_bytes(content)
    with pytest.raises(MalformedGguf, match=problem) as refused:
        read_gguf(path, name="weights/model.gguf")
    assert str(refused.value).startswith("'weights/model.gguf' is not a valid GGUF file: ")
    assert isinstance(refused.value, InvalidArgument)


def test_well_formed_crafted_files_are_read(tmp_path: Path) -> None:
    """The builder itself makes valid files: the refusals above are for their one problem."""
    path = tmp_path / "ok.gguf"
    path.write_bytes(
        _file((ARCH, _u32("general.alignment", 64)), (F32_ROW,), b"\x00" * 32, alignment=64)
    )
    model = read_gguf(path)
    assert (model.alignment, model.data_offset % 64, model.parameter_count) == (64, 0, 8)
    path.write_bytes(_file())
    assert read_gguf(path).tensors == ()


def test_every_truncation_of_the_tiny_model_is_refused(tiny: Path, tmp_path: Path) -> None:
    content = tiny.read_bytes()
    header_end = read_gguf(tiny).data_offset
    cuts = [*range(0, header_end, 7), header_end, header_end + 1, len(content) - 1]
    cut = tmp_path / "cut.gguf"
    for length in cuts:
        cut.write_bytes(content[:length])
        with pytest.raises(MalformedGguf, match=r"truncated|beyond the end of the file"):
            read_gguf(cut)


def test_random_corruption_is_read_or_refused_never_crashes(tiny: Path, tmp_path: Path) -> None:
    content = bytearray(tiny.read_bytes())
    header_end = read_gguf(tiny).data_offset
    rng = np.random.default_rng(7)
    corrupt = tmp_path / "corrupt.gguf"
    outcomes = {"read": 0, "refused": 0}
    for _ in range(400):
        damaged = bytearray(content)
        for position in rng.integers(0, header_end, size=3):
            damaged[position] = int(rng.integers(0, 256))
        corrupt.write_bytes(damaged)
        try:
            assert isinstance(read_gguf(corrupt), GgufFile)
            outcomes["read"] += 1
        except MalformedGguf:
            outcomes["refused"] += 1
    assert outcomes["refused"] > 0


def test_is_gguf_looks_at_magic_and_version(tiny: Path, tmp_path: Path) -> None:
    assert is_gguf(tiny)
    other = tmp_path / "other.bin"
    for content in (b"", b"GGUF", b"GGUF" + struct.pack("<I", 1), b"GGML" + struct.pack("<I", 3)):
        other.write_bytes(content)
        assert not is_gguf(other)
    other.write_bytes(b"GGUF" + struct.pack(">I", 3))
    assert is_gguf(other)
