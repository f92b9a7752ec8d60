"""LLM artifacts made on the spot for tests: the tiny GGUF of examples/llm and a Hugging
Face-style directory of safetensors shards, written with numpy (no hub, no ``safetensors``)."""

from __future__ import annotations

import importlib.util
import json
import struct
from pathlib import Path
from types import ModuleType

import numpy as np

MAKE_MODEL = Path(__file__).resolve().parents[1] / "examples" / "llm" / "make_model.py"


def _make_model_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("inferd_example_make_model", MAKE_MODEL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_model_module = _make_model_module()


def tiny_gguf(path: Path, *, seed: int = 0, context: int | None = None) -> Path:
    """The tiny llama GGUF of ``examples/llm/make_model.py`` at ``path`` (``context``: another
    trained context than its 512 tokens)."""
    sizes = {} if context is None else {"context": context}
    result: Path = make_model_module.make_model(path, seed=seed, **sizes)
    return result


def tiny_adapter(path: Path, *, seed: int = 1, width: int | None = None) -> Path:
    """A LoRA adapter for :func:`tiny_gguf` (``width`` other than 64: one that fits no tiny
    model)."""
    extra = {} if width is None else {"width": width}
    result: Path = make_model_module.make_adapter(path, seed=seed, **extra)
    return result


#: numpy dtype → safetensors dtype; BF16 is written from uint16 bit patterns.
_DTYPES = {"float32": "F32", "float16": "F16", "int64": "I64", "int8": "I8", "uint8": "U8"}

Tensors = dict[str, tuple[str, np.ndarray]]
"""name → (safetensors dtype, array whose bytes are written)."""


def tensor(array: np.ndarray, dtype: str | None = None) -> tuple[str, np.ndarray]:
    """``array`` labelled with its safetensors dtype (``dtype`` overrides, e.g. ``BF16``)."""
    return (dtype or _DTYPES[array.dtype.name], array)


def write_safetensors(
    path: Path, tensors: Tensors, *, metadata: dict[str, str] | None = None
) -> Path:
    """The safetensors layout: u64 header length, JSON header padded to 8 bytes, the data."""
    header: dict[str, object] = {"__metadata__": metadata or {"format": "pt"}}
    chunks: list[bytes] = []
    offset = 0
    for name, (dtype, array) in tensors.items():
        raw = array.tobytes()
        header[name] = {
            "dtype": dtype,
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(chunks))
    return path


CHAT_TEMPLATE = "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{% endfor %}"


def llama_tensors(vocab: int, hidden: int, layers: int, rng: np.random.Generator) -> list[Tensors]:
    """A llama's tensors in two shards: BF16 matrices, F32 norms."""

    def bf16(*shape: int) -> tuple[str, np.ndarray]:
        return tensor(rng.integers(0, 1 << 16, size=shape, dtype=np.uint16), "BF16")

    def f32(*shape: int) -> tuple[str, np.ndarray]:
        return tensor(np.ones(shape, dtype=np.float32))

    first: Tensors = {"model.embed_tokens.weight": bf16(vocab, hidden)}
    second: Tensors = {"model.norm.weight": f32(hidden), "lm_head.weight": bf16(vocab, hidden)}
    for layer in range(layers):
        shard = first if layer < layers // 2 else second
        prefix = f"model.layers.{layer}"
        for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
            shard[f"{prefix}.self_attn.{name}.weight"] = bf16(hidden, hidden)
        shard[f"{prefix}.input_layernorm.weight"] = f32(hidden)
        shard[f"{prefix}.mlp.up_proj.weight"] = bf16(2 * hidden, hidden)
    return [first, second]


def llama_parameters(vocab: int = 96, hidden: int = 32, layers: int = 2) -> int:
    """The element count of :func:`llama_tensors`, by arithmetic."""
    per_layer = 4 * hidden * hidden + hidden + 2 * hidden * hidden
    return 2 * vocab * hidden + hidden + layers * per_layer


def make_hf_dir(
    path: Path,
    *,
    vocab: int = 96,
    hidden: int = 32,
    layers: int = 2,
    seed: int = 0,
    chat_template: bool = True,
) -> Path:
    """A Hugging Face-style llama directory: config, tokenizer files, two safetensors shards and
    ``model.safetensors.index.json``. Returns ``path``; it holds :func:`llama_parameters`."""
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    shards = llama_tensors(vocab, hidden, layers, rng)
    names = [f"model-{i:05d}-of-{len(shards):05d}.safetensors" for i in range(1, len(shards) + 1)]
    weight_map: dict[str, str] = {}
    total = 0
    for name, tensors in zip(names, shards, strict=True):
        write_safetensors(path / name, tensors)
        weight_map.update(dict.fromkeys(tensors, name))
        total += sum(a.nbytes for _, a in tensors.values())
    (path / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2)
    )
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "vocab_size": vocab,
        "max_position_embeddings": 2048,
        "torch_dtype": "bfloat16",
    }
    (path / "config.json").write_text(json.dumps(config, indent=2))
    (path / "generation_config.json").write_text(json.dumps({"max_new_tokens": 16}))
    vocabulary = {chr(0x21 + i): i for i in range(vocab)}
    (path / "tokenizer.json").write_text(
        json.dumps({"version": "1.0", "model": {"type": "BPE", "vocab": vocabulary, "merges": []}})
    )
    tokenizer_config: dict[str, object] = {"model_max_length": 2048}
    if chat_template:
        tokenizer_config["chat_template"] = CHAT_TEMPLATE
    (path / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    (path / "README.md").write_text("# tiny llama\n")
    return path
