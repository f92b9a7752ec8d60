"""The ``llm`` section of a card: what a language model's files say, read without the weights.

Two layouts (docs/llm.md#what-push-accepts):

- **GGUF**: one file holding weights, tokenizer and chat template. The card comes from its
  metadata and tensor infos (:mod:`inferd.formats.gguf`).
- **Hugging Face directory**: ``config.json``, tokenizer files and ``*.safetensors`` shards with
  ``model.safetensors.index.json``, at the top of the pushed directory. The card comes from
  ``config.json``, ``tokenizer_config.json`` and the shards' headers
  (:mod:`inferd.formats.safetensors`); the index must map exactly the tensors the shards hold.

Every GGUF file of a push is read and checked, whichever runtime it names, so a truncated or
damaged one is refused (InvalidArgument naming the file and the problem) before anything is
stored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

import orjson

from inferd.card import LlmCard, LlmFile, LlmFileFormat, LlmFileRole
from inferd.errors import InvalidArgument, NotFound
from inferd.formats.gguf import is_gguf, read_gguf
from inferd.formats.gguf_file import GgufFile
from inferd.formats.safetensors import SafetensorsHeader, read_safetensors
from inferd.runtimes.detect import HF_CONFIG, Detection, is_hf_directory
from inferd.store import ModelStore, Staged

#: The small JSON files read whole (config, tokenizer config, shard index) are held to this.
MAX_JSON_BYTES = 64 << 20
INDEX_SUFFIX = ".safetensors.index.json"
TOKENIZER_CONFIG = "tokenizer_config.json"
#: Top-level files of a Hugging Face directory that are not weights: role and format.
HF_FILES: dict[str, tuple[LlmFileRole, LlmFileFormat]] = {
    HF_CONFIG: ("config", "json"),
    "generation_config.json": ("config", "json"),
    "tokenizer.json": ("tokenizer", "json"),
    TOKENIZER_CONFIG: ("tokenizer", "json"),
    "special_tokens_map.json": ("tokenizer", "json"),
    "added_tokens.json": ("tokenizer", "json"),
    "vocab.json": ("tokenizer", "json"),
    "merges.txt": ("tokenizer", "text"),
    "vocab.txt": ("tokenizer", "text"),
    "tokenizer.model": ("tokenizer", "sentencepiece"),
    "spiece.model": ("tokenizer", "sentencepiece"),
    "chat_template.jinja": ("tokenizer", "jinja"),
    "chat_template.json": ("tokenizer", "json"),
}
#: config.json keys for the trained context, in the order models use them.
_CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")


#: GGUF keys of a model split in several files (``gguf-split``): how many, and which this is.
SPLIT_COUNT, SPLIT_NO = "split.count", "split.no"
_SPLIT_NAME = re.compile(r"-\d{5}-of-\d{5}\.gguf$")

#: GGUF ``general.type`` of an adapter, and the adapter kinds llama.cpp applies.
ADAPTER_TYPE = "adapter"
ADAPTER_KINDS = ("lora",)


@dataclass(frozen=True, slots=True)
class AdapterBase:
    """The base version an adapter is pushed over (``--base``), resolved in the store."""

    #: What the pusher named, e.g. ``llm:base-1``.
    named: str
    #: Pinned: ``name@sha256:<manifest digest>``.
    pinned: str
    model: GgufFile


def resolve_base(store: ModelStore, ref: str) -> AdapterBase:
    """The GGUF model ``ref`` names in the store (NotFound when absent, InvalidArgument when it
    is no GGUF model or is itself an adapter)."""
    try:
        found = store.materialize(ref)
    except NotFound as exc:  # named as the base: it read as if the version pushed were missing
        raise NotFound(
            f"--base {ref} was not found ({exc.message}): push or pull the base first"
        ) from None
    llm = found.card.llm
    if llm is None or llm.format != "gguf" or found.card.entrypoint is None:
        raise InvalidArgument(f"--base {ref} is not a GGUF language model; adapters apply to one")
    if llm.adapter is not None:
        raise InvalidArgument(f"--base {ref} is itself an adapter; name the model it applies to")
    entry = found.card.entrypoint
    model, _ = with_splits(
        read_gguf(found.path / entry, name=entry),
        entry,
        lambda title: (
            read_gguf(found.path / title, name=title) if (found.path / title).is_file() else None
        ),
    )
    # The card's name, as the store checks a digest against it: a tag of another name (a
    # copy, a registry's repository) pinned under its own name would name no version.
    return AdapterBase(ref, f"{found.card.name}@{found.digest}", model)


def with_splits(
    model: GgufFile, title: str, split: Callable[[str], GgufFile | None]
) -> tuple[GgufFile, tuple[str, ...]]:
    """``model`` with the tensors of every file it is split in, and those files' titles (just
    ``title`` for a model in one file). llama.cpp loads a split model from its first file,
    ``NAME-00001-of-0000N.gguf``, and finds the others beside it by name: ``split`` reads one
    by title (None: absent). InvalidArgument for a later split named, or one missing."""
    count, number = model.metadata.get(SPLIT_COUNT), model.metadata.get(SPLIT_NO)
    if not isinstance(count, int) or count <= 1:
        return model, (title,)
    suffix = f"-00001-of-{count:05d}.gguf"
    if number != 0 or not title.endswith(suffix):
        shown = number + 1 if isinstance(number, int) else "?"
        raise InvalidArgument(
            f"{title!r} is split {shown} of {count}: llama.cpp loads a split model from its "
            f"first file; name '{_SPLIT_NAME.sub('', title)}{suffix}' as the entrypoint"
        )
    prefix = title.removesuffix(suffix)
    tensors, titles = list(model.tensors), [title]
    for n in range(2, count + 1):
        name = f"{prefix}-{n:05d}-of-{count:05d}.gguf"
        part = split(name)
        if part is None or part.metadata.get(SPLIT_NO) != n - 1:
            raise InvalidArgument(
                f"{title!r} is the first of {count} splits, but {name!r} is not among the "
                "files (or is not that split); llama.cpp cannot load the model without it"
            )
        tensors += part.tensors
        titles.append(name)
    return replace(model, tensors=tuple(tensors)), tuple(titles)


def read_ggufs(staged: Staged) -> dict[str, GgufFile]:
    """Every GGUF file of the push (by its magic), read and checked, by title."""
    return {
        file.title: read_gguf(file.path, name=file.title)
        for file in staged.files
        if is_gguf(file.path)
    }


def describe_llm(
    staged: Staged, detection: Detection, base: AdapterBase | None = None
) -> LlmCard | None:
    """The card's ``llm`` section, or None for a model that is no language model.

    Raises InvalidArgument (naming the file) for a GGUF that does not parse or names no
    architecture, and for a Hugging Face directory whose config, index or shards disagree.
    """
    ggufs = read_ggufs(staged)
    if detection.runtime == "llamacpp" and detection.entrypoint is not None:
        # The entry point as a layer title (a pushed file is titled by its own name).
        title = PurePosixPath(detection.entrypoint).as_posix()
        model = ggufs.get(title)
        if model is None:
            raise InvalidArgument(f"entrypoint {title!r} is not a GGUF file of the model")
        if model.metadata.get("general.type") == ADAPTER_TYPE:
            return adapter_card(model, title, base)
        if base is not None:
            raise InvalidArgument(
                f"{title!r} is a whole model, not an adapter (GGUF general.type is not "
                "'adapter'): push it without --base"
            )
        whole, splits = with_splits(model, title, ggufs.get)
        return gguf_card(whole, title, splits)
    if base is not None:
        raise InvalidArgument("--base is for GGUF LoRA adapters; this push is not one")
    if is_hf_directory(staged.path):
        return hf_card({file.title: file.path for file in staged.files})
    return None


def gguf_card(model: GgufFile, title: str, splits: tuple[str, ...] = ()) -> LlmCard:
    """The card of a GGUF model file titled ``title`` (the first of ``splits``, the files of a
    split model, whose tensors ``model`` holds)."""
    if model.architecture is None:
        raise InvalidArgument(
            f"{title!r} names no general.architecture; llama.cpp cannot load a GGUF model that "
            "does not say what it is"
        )
    return LlmCard(
        format="gguf",
        architecture=model.architecture,
        parameters=model.parameter_count,
        context_length=model.context_length,
        vocab_size=model.vocab_size,
        chat_template=model.has_chat_template,
        file_type=model.file_type,
        tensor_types=model.tensor_types,
        files=tuple(LlmFile(path=t, role="weights", format="gguf") for t in splits or (title,)),
    )


def adapter_card(adapter: GgufFile, title: str, base: AdapterBase | None) -> LlmCard:
    """The card of a LoRA adapter: its base pinned, and checked to fit that base (the same
    architecture, and every update shaped like the base tensor it changes)."""
    kind = adapter.metadata.get("adapter.type")
    if kind not in ADAPTER_KINDS:
        raise InvalidArgument(
            f"{title!r} is an adapter of type {kind!r}; llama.cpp applies "
            f"{', '.join(ADAPTER_KINDS)} adapters"
        )
    if base is None:
        raise InvalidArgument(
            f"{title!r} is a LoRA adapter: name the model it applies to with --base NAME:TAG"
        )
    where = f"adapter {title!r} does not fit --base {base.named} ({base.pinned})"
    if adapter.architecture != base.model.architecture:
        raise InvalidArgument(
            f"{where}: it is for {adapter.architecture!r} models, the base is "
            f"{base.model.architecture!r}"
        )
    shapes = {t.name: t.shape for t in base.model.tensors}
    updates = {t.name: t.shape for t in adapter.tensors}
    _lora_pairs(title, updates)
    for name, a in updates.items():
        if not name.endswith(".lora_a"):
            continue
        target = name.removesuffix(".lora_a")
        b = updates[f"{target}.lora_b"]
        shape = shapes.get(target)
        if shape is None:
            raise InvalidArgument(f"{where}: the base has no tensor {target}")
        if len(shape) < 2 or len(a) < 2 or len(b) < 2 or not _lora_fits(target, shape, a, b):
            raise InvalidArgument(
                f"{where}: {target} is {list(shape)} in the base, but the update is "
                f"{list(a)} x {list(b)}"
            )
    return LlmCard(
        format="gguf",
        architecture=adapter.architecture or "unknown",
        parameters=adapter.parameter_count,
        tensor_types=adapter.tensor_types,
        files=(LlmFile(path=title, role="adapter", format="gguf"),),
        adapter="lora",
        base=base.pinned,
        context_length=base.model.context_length,
        vocab_size=base.model.vocab_size,
        chat_template=base.model.has_chat_template,
    )


def _lora_pairs(title: str, updates: Mapping[str, tuple[int, ...]]) -> None:
    """Refuse an adapter llama.cpp would refuse whole: each tensor must be half of a
    ``.lora_a``/``.lora_b`` pair, or a norm (``*_norm.weight``, which llama.cpp skips)."""
    for name in updates:
        for half, other in ((".lora_a", ".lora_b"), (".lora_b", ".lora_a")):
            target = name.removesuffix(half)
            if target != name and f"{target}{other}" not in updates:
                raise InvalidArgument(
                    f"adapter {title!r}: {name} has no {target}{other} (llama.cpp applies "
                    "an update only as a pair)"
                )
        if not name.endswith((".lora_a", ".lora_b", "_norm.weight")):
            raise InvalidArgument(
                f"adapter {title!r}: {name} is not a LoRA update (llama.cpp takes only "
                ".lora_a/.lora_b pairs, and norms)"
            )


def _json_object(path: Path, title: str) -> dict[str, Any]:
    size = path.stat().st_size
    if size > MAX_JSON_BYTES:
        raise InvalidArgument(f"{title!r} is {size} bytes; at most {MAX_JSON_BYTES} are read")
    try:
        document = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"{title!r} is not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise InvalidArgument(f"{title!r} is not a JSON object")
    return document


def _config_value(config: Mapping[str, Any], keys: tuple[str, ...]) -> int | None:
    """The first integer under ``keys``, at the top or in ``text_config`` (multimodal models)."""
    text = config.get("text_config")
    for scope in (config, text if isinstance(text, dict) else {}):
        for key in keys:
            value = scope.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                return value
    return None


def _architecture(config: Mapping[str, Any]) -> str:
    model_type = config.get("model_type")
    if isinstance(model_type, str) and model_type:
        return model_type
    architectures = config.get("architectures")
    if isinstance(architectures, list) and architectures and isinstance(architectures[0], str):
        return architectures[0]
    raise InvalidArgument(f"{HF_CONFIG!r} names no model_type or architectures")


def _quantization(config: Mapping[str, Any]) -> str | None:
    settings = config.get("quantization_config")
    method = settings.get("quant_method") if isinstance(settings, dict) else None
    return method if isinstance(method, str) and method else None


def _lora_fits(target: str, shape: tuple[int, ...], a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    """Whether the update ``a`` x ``b`` (ggml shapes) fits the base tensor ``target`` of
    ``shape``, as llama.cpp checks it: A is [in, rank] and B [rank, out], except for token
    embeddings, whose update is flipped (the tokens' rows of A, [rank, n_vocab], times B,
    [rank, n_embd])."""
    if target.endswith("token_embd.weight"):
        return b[1] == shape[0] and a[1] == shape[1] and a[0] == b[0]
    return a[0] == shape[0] and b[1] == shape[1] and a[1] == b[0]


def _has_chat_template(files: Mapping[str, Path]) -> bool:
    for name in ("chat_template.jinja", "chat_template.json"):
        if name in files and files[name].stat().st_size > 0:
            return True
    if TOKENIZER_CONFIG not in files:
        return False
    template = _json_object(files[TOKENIZER_CONFIG], TOKENIZER_CONFIG).get("chat_template")
    return bool(template) and isinstance(template, str | list)


def _model_shards(files: Mapping[str, Path]) -> tuple[dict[str, SafetensorsHeader], str | None]:
    """The shards that hold the model (those the index names, else the only one), read and
    checked against the index; and the index's title."""
    shards = sorted(t for t in files if "/" not in t and t.endswith(".safetensors"))
    indexes = sorted(t for t in files if "/" not in t and t.endswith(INDEX_SUFFIX))
    if len(indexes) > 1:
        raise InvalidArgument(f"several shard indexes ({', '.join(indexes)}); keep one")
    if not indexes:
        if len(shards) > 1:
            raise InvalidArgument(
                f"several safetensors files ({', '.join(shards)}) and no "
                f"model{INDEX_SUFFIX} saying which hold the model"
            )
        return {t: read_safetensors(files[t], name=t) for t in shards}, None
    index = indexes[0]
    weight_map = _json_object(files[index], index).get("weight_map")
    if not isinstance(weight_map, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in weight_map.items()
    ):
        raise InvalidArgument(f"{index!r} has no weight_map of tensor names to shard files")
    named = sorted(set(weight_map.values()))
    missing = [shard for shard in named if shard not in shards]
    if missing:
        raise InvalidArgument(f"{index!r} names shards not in the directory: {', '.join(missing)}")
    headers = {shard: read_safetensors(files[shard], name=shard) for shard in named}
    for shard, header in headers.items():
        held = {t.name for t in header.tensors}
        mapped = {name for name, file in weight_map.items() if file == shard}
        if held != mapped:
            extra, absent = sorted(held - mapped), sorted(mapped - held)
            problem = (
                f"{shard!r} holds tensors the index does not map to it: {', '.join(extra[:3])}"
                if extra
                else f"{index!r} maps tensors to {shard!r} that it does not hold: "
                f"{', '.join(absent[:3])}"
            )
            raise InvalidArgument(problem)
    return headers, index


def hf_card(files: Mapping[str, Path]) -> LlmCard:
    """The card of a Hugging Face directory whose files are ``files`` (title → path)."""
    config = _json_object(files[HF_CONFIG], HF_CONFIG)
    shards, index = _model_shards(files)
    tensor_types: dict[str, int] = {}
    for header in shards.values():
        for dtype, count in header.dtypes.items():
            tensor_types[dtype] = tensor_types.get(dtype, 0) + count
    listed: list[LlmFile] = [LlmFile(path=t, role="weights", format="safetensors") for t in shards]
    if index is not None:
        listed.append(LlmFile(path=index, role="index", format="json"))
    listed += [
        LlmFile(path=title, role=role, format=fmt)
        for title, (role, fmt) in HF_FILES.items()
        if title in files
    ]
    return LlmCard(
        format="safetensors",
        architecture=_architecture(config),
        parameters=sum(header.parameter_count for header in shards.values()),
        context_length=_config_value(config, _CONTEXT_KEYS),
        vocab_size=_config_value(config, ("vocab_size",)),
        chat_template=_has_chat_template(files),
        quantization=_quantization(config),
        tensor_types=dict(sorted(tensor_types.items(), key=lambda item: (-item[1], item[0]))),
        files=tuple(sorted(listed, key=lambda f: f.path)),
    )
