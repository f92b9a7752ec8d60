"""Language models as artifacts: a GGUF file or a Hugging Face directory pushed, described from
headers, laid out as ModelPack layers, pulled back byte for byte; malformed files refused with
nothing stored."""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import struct
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from inferd.card import LlmFile
from inferd.cli import main
from inferd.errors import InvalidArgument, ModelNotFound, UnsafeFormat
from inferd.formats.gguf import read_gguf
from inferd.packaging import CardOptions, describe, push
from inferd.store import ModelStore, media
from inferd.store.gc import GRACE_S
from inferd.store.manifest import Manifest
from llm_files import (
    CHAT_TEMPLATE,
    llama_parameters,
    make_hf_dir,
    tensor,
    tiny_adapter,
    tiny_gguf,
    write_safetensors,
)


@pytest.fixture
def store(inferd_home: Path) -> ModelStore:
    return ModelStore(inferd_home)


@pytest.fixture
def gguf_file(tmp_path: Path) -> Path:
    (tmp_path / "gguf").mkdir()
    return tiny_gguf(tmp_path / "gguf" / "tiny.gguf")


@pytest.fixture
def hf_dir(tmp_path: Path) -> Path:
    return make_hf_dir(tmp_path / "hf")


def _manifest(store: ModelStore, ref: str) -> Manifest:
    return store.layout.read_manifest(store.resolve(ref).digest)


def _layers(store: ModelStore, ref: str) -> dict[str, tuple[str, dict[str, str]]]:
    """title → (media type, annotations beyond the title and file path)."""
    common = {media.ANNOTATION_TITLE, media.ANNOTATION_FILEPATH}
    return {
        item.title: (
            item.descriptor.media_type,
            {k: v for k, v in item.descriptor.annotations.items() if k not in common},
        )
        for item in _manifest(store, ref).layers
    }


def _described(role: str, fmt: str) -> dict[str, str]:
    return {
        media.ANNOTATION_MEDIATYPE_UNTESTED: "false",
        media.ANNOTATION_FILE_ROLE: role,
        media.ANNOTATION_FILE_FORMAT: fmt,
    }


def _nothing_stored(store: ModelStore, name: str) -> None:
    blobs = store.root / "store" / "blobs"
    assert not blobs.exists() or [p for p in blobs.rglob("*") if p.is_file()] == []
    assert list(store.layout.read_index().tags()) == []
    assert store.history(name) == []
    with pytest.raises(ModelNotFound):
        store.resolve(f"{name}:v1")


def test_a_gguf_file_is_described_from_its_metadata(store: ModelStore, gguf_file: Path) -> None:
    card = push(store, gguf_file, "tiny:v1").card
    assert (card.runtime, card.entrypoint) == ("llamacpp", "tiny.gguf")
    assert card.llm is not None
    assert card.llm.model_dump() == {
        "format": "gguf",
        "architecture": "llama",
        "parameters": 116_288,
        "context_length": 512,
        "vocab_size": 266,
        "chat_template": True,
        "file_type": "F16",
        "quantization": None,
        "tensor_types": {"F16": 115_968, "F32": 320},
        "adapter": None,
        "base": None,
        "files": ({"path": "tiny.gguf", "role": "weights", "format": "gguf"},),
    }
    assert card.llm.parameters == read_gguf(gguf_file).parameter_count
    assert _layers(store, "tiny:v1") == {"tiny.gguf": (media.WEIGHT, _described("weights", "gguf"))}
    assert store.resolve("tiny:v1").card == card


def test_a_gguf_in_a_directory_with_other_files(store: ModelStore, tmp_path: Path) -> None:
    model = tmp_path / "model"
    (model / "weights").mkdir(parents=True)
    tiny_gguf(model / "weights" / "model.gguf")
    (model / "README.md").write_text("# tiny\n")
    card = push(store, model, "tiny:v1").card
    assert (card.runtime, card.entrypoint) == ("llamacpp", "weights/model.gguf")
    assert card.llm is not None
    assert card.llm.files == (LlmFile(path="weights/model.gguf", role="weights", format="gguf"),)
    assert _layers(store, "tiny:v1") == {
        "README.md": (media.DOC, {}),
        "weights/model.gguf": (media.WEIGHT, _described("weights", "gguf")),
    }


def test_a_hugging_face_directory_is_described_from_headers(
    store: ModelStore, hf_dir: Path
) -> None:
    card = push(store, hf_dir, "hf:v1").card
    assert (card.runtime, card.entrypoint) == ("transformers", None)
    assert card.llm is not None
    vocab, hidden, layers = 96, 32, 2
    f32 = hidden * (1 + layers)  # final norm and one norm per layer
    assert card.llm.model_dump(exclude={"files"}) == {
        "format": "safetensors",
        "architecture": "llama",
        "parameters": llama_parameters(vocab, hidden, layers),
        "context_length": 2048,
        "vocab_size": vocab,
        "chat_template": True,
        "file_type": None,
        "quantization": None,
        "tensor_types": {"BF16": llama_parameters(vocab, hidden, layers) - f32, "F32": f32},
        "adapter": None,
        "base": None,
    }
    shards = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    assert {(f.path, f.role, f.format) for f in card.llm.files} == {
        (shards[0], "weights", "safetensors"),
        (shards[1], "weights", "safetensors"),
        ("model.safetensors.index.json", "index", "json"),
        ("config.json", "config", "json"),
        ("generation_config.json", "config", "json"),
        ("tokenizer.json", "tokenizer", "json"),
        ("tokenizer_config.json", "tokenizer", "json"),
    }
    layers_seen = _layers(store, "hf:v1")
    assert layers_seen[shards[0]] == (media.WEIGHT, _described("weights", "safetensors"))
    assert layers_seen["model.safetensors.index.json"] == (
        media.WEIGHT_CONFIG,
        _described("index", "json"),
    )
    assert layers_seen["config.json"] == (media.WEIGHT_CONFIG, _described("config", "json"))
    assert layers_seen["tokenizer.json"] == (media.WEIGHT_CONFIG, _described("tokenizer", "json"))
    assert layers_seen["README.md"] == (media.DOC, {})


def test_chat_template_and_quantization_from_the_hugging_face_files(
    store: ModelStore, tmp_path: Path
) -> None:
    model = make_hf_dir(tmp_path / "hf", chat_template=False)
    card = push(store, model, "hf:v1").card
    assert card.llm is not None and card.llm.chat_template is False
    (model / "chat_template.jinja").write_text(CHAT_TEMPLATE)
    config = json.loads((model / "config.json").read_text())
    config["quantization_config"] = {"quant_method": "gptq", "bits": 4}
    (model / "config.json").write_text(json.dumps(config))
    card = push(store, model, "hf:v2").card
    assert card.llm is not None
    assert (card.llm.chat_template, card.llm.quantization) == (True, "gptq")
    assert LlmFile(path="chat_template.jinja", role="tokenizer", format="jinja") in card.llm.files


def test_a_single_shard_needs_no_index(store: ModelStore, tmp_path: Path) -> None:
    model = tmp_path / "hf"
    model.mkdir()
    write_safetensors(
        model / "model.safetensors", {"w": tensor(np.zeros((4, 8), dtype=np.float16))}
    )
    (model / "config.json").write_text(json.dumps({"architectures": ["GPT2LMHeadModel"]}))
    card = push(store, model, "hf:v1").card
    assert card.llm is not None
    assert (card.llm.architecture, card.llm.parameters, card.llm.tensor_types) == (
        "GPT2LMHeadModel",
        32,
        {"F16": 32},
    )
    assert (card.llm.context_length, card.llm.vocab_size, card.llm.chat_template) == (
        None,
        None,
        False,
    )


def _edit_index(model: Path, edit: dict[str, str | None]) -> None:
    path = model / "model.safetensors.index.json"
    index = json.loads(path.read_text())
    for name, shard in edit.items():
        if shard is None:
            del index["weight_map"][name]
        else:
            index["weight_map"][name] = shard
    path.write_text(json.dumps(index))


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (
            lambda m: _edit_index(m, {"model.norm.weight": "model-00003-of-00003.safetensors"}),
            r"names shards not in the directory: model-00003-of-00003.safetensors",
        ),
        (
            lambda m: _edit_index(m, {"model.norm.weight": None}),
            r"'model-00002-of-00002.safetensors' holds tensors the index does not map to it: "
            r"model.norm.weight",
        ),
        (
            lambda m: _edit_index(m, {"ghost.weight": "model-00001-of-00002.safetensors"}),
            r"maps tensors to 'model-00001-of-00002.safetensors' that it does not hold: "
            r"ghost.weight",
        ),
        (
            lambda m: (m / "model.safetensors.index.json").unlink(),
            r"several safetensors files \(model-00001-of-00002.safetensors, "
            r"model-00002-of-00002.safetensors\) and no model.safetensors.index.json",
        ),
        (
            lambda m: (m / "config.json").write_text("[1, 2]"),
            r"'config.json' is not a JSON object",
        ),
        (
            lambda m: (m / "config.json").write_text("{}"),
            r"'config.json' names no model_type or architectures",
        ),
    ],
)
def test_a_hugging_face_directory_that_disagrees_with_itself_is_refused(
    store: ModelStore, hf_dir: Path, damage: object, problem: str
) -> None:
    damage(hf_dir)  # type: ignore[operator]
    with pytest.raises(InvalidArgument, match=problem):
        push(store, hf_dir, "hf:v1")
    _nothing_stored(store, "hf")


def _truncated(path: Path) -> str:
    content = path.read_bytes()
    path.write_bytes(content[: read_gguf(path).data_offset - 100])
    return r"'tiny.gguf' is not a valid GGUF file: truncated: .* at byte \d+"


def _beyond(path: Path) -> str:
    """The last tensor info's offset (its last 8 bytes before the padding) moved past the end."""
    model = read_gguf(path)
    last = max(model.tensors, key=lambda t: t.offset)
    content = bytearray(path.read_bytes())
    needle = struct.pack("<Q", last.offset - model.data_offset)
    at = content.rindex(needle, 0, model.data_offset)
    content[at : at + 8] = struct.pack("<Q", len(content))
    path.write_bytes(content)
    return (
        rf"'tiny.gguf' is not a valid GGUF file: tensor '{last.name}' \(F16, \d+ bytes at data "
        r"offset \d+\) ends at byte \d+, beyond the end of the file \(\d+ bytes\)"
    )


def _misaligned(path: Path) -> str:
    model = read_gguf(path)
    last = max(model.tensors, key=lambda t: t.offset)
    content = bytearray(path.read_bytes())
    needle = struct.pack("<Q", last.offset - model.data_offset)
    at = content.rindex(needle, 0, model.data_offset)
    content[at : at + 8] = struct.pack("<Q", last.offset - model.data_offset + 2)
    path.write_bytes(content)
    return rf"tensor '{last.name}' data offset \d+ is misaligned"


@pytest.mark.parametrize("damage", [_truncated, _beyond, _misaligned])
@pytest.mark.parametrize("as_directory", [False, True])
def test_a_malformed_gguf_is_refused_at_push_leaving_nothing(
    store: ModelStore, tmp_path: Path, damage: object, as_directory: bool
) -> None:
    model = tmp_path / "model"
    model.mkdir()
    path = tiny_gguf(model / "tiny.gguf")
    problem = damage(path)  # type: ignore[operator]
    with pytest.raises(InvalidArgument, match=problem):
        push(store, model if as_directory else path, "tiny:v1")
    _nothing_stored(store, "tiny")


def test_a_file_named_gguf_without_the_magic_is_refused(store: ModelStore, tmp_path: Path) -> None:
    path = tiny_gguf(tmp_path / "tiny.gguf")
    path.write_bytes(b"GGUX" + path.read_bytes()[4:])
    with pytest.raises(
        UnsafeFormat,
        match=r"'tiny.gguf' is named .gguf but not GGUF \(it starts "
        r"with b'GGUX\\x03\\x00\\x00\\x00', not the magic b'GGUF'",
    ):
        push(store, path, "tiny:v1")
    _nothing_stored(store, "tiny")


def test_a_broken_gguf_is_refused_whatever_runtime_the_push_names(
    store: ModelStore, tmp_path: Path
) -> None:
    model = tmp_path / "model"
    model.mkdir()
    shutil.copy(
        Path(__file__).resolve().parents[2] / "examples/quickstart/fraud-v1/model.onnx", model
    )
    _truncated(tiny_gguf(model / "tiny.gguf"))
    with pytest.raises(InvalidArgument, match=r"'tiny.gguf' is not a valid GGUF file"):
        push(store, model, "fraud:v1", runtime="onnx")
    _nothing_stored(store, "fraud")


def test_the_cli_refuses_a_truncated_gguf_with_exit_status_2(
    inferd_home: Path, tmp_path: Path
) -> None:
    path = tiny_gguf(tmp_path / "tiny.gguf")
    _truncated(path)
    result = CliRunner().invoke(main, ["push", str(path), "tiny:v1"], catch_exceptions=False)
    assert result.exit_code == 2
    assert result.output.startswith("error: 'tiny.gguf' is not a valid GGUF file: truncated: ")
    _nothing_stored(ModelStore(inferd_home), "tiny")


def test_shards_shared_between_versions_are_stored_once(store: ModelStore, hf_dir: Path) -> None:
    blobs = store.root / "store" / "blobs" / "sha256"
    push(store, hf_dir, "hf:v1")
    before = set(blobs.iterdir())
    # v2: a fine-tune that changed the second shard and the config; the first shard is shared.
    second = hf_dir / "model-00002-of-00002.safetensors"
    content = bytearray(second.read_bytes())
    content[-1] ^= 0xFF
    second.write_bytes(content)
    (hf_dir / "config.json").write_text(
        (hf_dir / "config.json").read_text().replace("2048", "4096")
    )
    push(store, hf_dir, "hf:v2")
    added = set(blobs.iterdir()) - before
    v1, v2 = (_manifest(store, ref) for ref in ("hf:v1", "hf:v2"))
    changed = {item.digest for item in v2.layers} - {item.digest for item in v1.layers}
    # New blobs: the changed shard, the new config, the card and the manifest; nothing else.
    assert {f"sha256:{p.name}" for p in added} == changed | {
        v2.config.digest,
        store.resolve("hf:v2").digest,
    }
    assert len(changed) == 2
    shared = {i.title: i.digest for i in v1.layers}["model-00001-of-00002.safetensors"]
    assert {i.title: i.digest for i in v2.layers}["model-00001-of-00002.safetensors"] == shared
    assert [p.name for p in blobs.iterdir()].count(shared.removeprefix("sha256:")) == 1


@pytest.mark.parametrize("kind", ["gguf", "hf"])
def test_pull_gives_back_the_pushed_files_byte_for_byte(
    store: ModelStore, gguf_file: Path, hf_dir: Path, tmp_path: Path, kind: str
) -> None:
    source = hf_dir if kind == "hf" else gguf_file.parent
    push(store, source if kind == "hf" else gguf_file, "llm:v1")
    pulled = store.pull("llm:v1", tmp_path / "pulled")
    names = sorted(p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file())
    assert sorted(p.relative_to(pulled).as_posix() for p in pulled.rglob("*") if p.is_file()) == (
        names
    )
    match, mismatch, errors = filecmp.cmpfiles(source, pulled, names, shallow=False)
    assert (match, mismatch, errors) == (names, [], [])


def test_commit_refuses_llm_files_the_version_does_not_hold(
    store: ModelStore, gguf_file: Path
) -> None:
    staged = store.stage(gguf_file, "tiny:v1")
    card = describe(staged, CardOptions())
    assert card.llm is not None
    stranger = (LlmFile(path="other.gguf", role="weights", format="gguf"),)
    forged = card.model_copy(update={"llm": card.llm.model_copy(update={"files": stranger})})
    with pytest.raises(InvalidArgument, match=r"does not hold: \['other.gguf'\]"):
        store.commit(staged, forged)
    _nothing_stored(store, "tiny")


def test_an_adapter_is_a_version_pinned_to_its_base(store: ModelStore, tmp_path: Path) -> None:
    base = push(store, tiny_gguf(tmp_path / "base.gguf"), "llm:base-1")
    adapter = push(store, tiny_adapter(tmp_path / "support.gguf"), "llm:support-v3",
                   base="llm:base-1")  # fmt: skip
    llm = adapter.card.llm
    assert llm is not None and llm.adapter == "lora"
    assert llm.base == f"llm@{base.digest}"
    assert llm.files == (LlmFile(path="support.gguf", role="adapter", format="gguf"),)
    assert adapter.card.runtime == "llamacpp"
    # Only the update is stored with the adapter: the base stays its own version.
    layers = _layers(store, "llm:support-v3")
    assert list(layers) == ["support.gguf"]
    assert layers["support.gguf"][0] == media.WEIGHT


def test_adapters_without_a_fitting_base_are_refused_naming_both(
    store: ModelStore, tmp_path: Path
) -> None:
    push(store, tiny_gguf(tmp_path / "base.gguf"), "llm:base-1")
    adapter = tiny_adapter(tmp_path / "a.gguf")
    with pytest.raises(InvalidArgument, match="name the model it applies to with --base"):
        push(store, adapter, "llm:a")
    misfit = tiny_adapter(tmp_path / "wide.gguf", width=32)
    expected = (
        r"'wide.gguf' does not fit --base llm:base-1 \(llm@sha256:[0-9a-f]{64}\): "
        r"blk.0.attn_q.weight is \[64, 64\]"
    )
    with pytest.raises(InvalidArgument, match=expected):
        push(store, misfit, "llm:wide", base="llm:base-1")
    with pytest.raises(InvalidArgument, match="is a whole model, not an adapter"):
        push(store, tiny_gguf(tmp_path / "other.gguf", seed=3), "llm:other", base="llm:base-1")
    push(store, adapter, "llm:a", base="llm:base-1")
    with pytest.raises(InvalidArgument, match="is itself an adapter"):
        push(store, adapter, "llm:b", base="llm:a")
    assert sorted(t.tag for t in store.list("llm")) == ["a", "base-1"]  # nothing else stored


def test_an_adapter_keeps_its_base_through_garbage_collection(
    store: ModelStore, tmp_path: Path
) -> None:
    base = push(store, tiny_gguf(tmp_path / "base.gguf"), "llm:base-1")
    adapter = push(store, tiny_adapter(tmp_path / "a.gguf"), "llm:a", base="llm:base-1")
    manifest = store.layout.read_manifest(adapter.digest)
    assert manifest.subject is not None and manifest.subject.digest == base.digest
    other = push(store, tiny_gguf(tmp_path / "other.gguf", seed=9), "llm:other")
    store.untag("llm:base-1")
    store.untag("llm:other")
    old = time.time() - GRACE_S - 60
    for digest in store.layout.blobs.digests():
        os.utime(store.layout.blobs.path(digest), (old, old))
    store.gc()
    # The untagged base is still whole: the adapter's manifest refers to it (OCI subject);
    # another untagged model is gone.
    found = store.materialize(f"llm@{base.digest}")
    assert (found.path / "base.gguf").read_bytes() == (tmp_path / "base.gguf").read_bytes()
    assert not store.layout.blobs.exists(other.digest)
