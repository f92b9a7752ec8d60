"""Make the tiny test LLM: a llama-architecture GGUF with random weights, nothing downloaded.

    python examples/llm/make_model.py [OUT.gguf]      # default: ./tiny-llama.gguf
    python examples/llm/make_model.py --adapter [OUT.gguf]   # a LoRA adapter for it

Two layers, 64-wide embeddings, 4 attention heads, a byte-level BPE vocabulary (the 256 GPT-2
byte tokens, a few merges and ChatML's control tokens) and a ChatML chat template. F16 matrices,
F32 norms, about 0.3 MB, written in well under a second. The same seed gives the same bytes.
It talks nonsense, which is all a test of the machinery around a model needs. Needs the
``gguf`` package (``pip install -e '.[dev]'``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import gguf
import numpy as np

ARCH = "llama"
EMBEDDING = 64
LAYERS = 2
HEADS = 4
FEED_FORWARD = 128
CONTEXT = 512
#: Pairs merged by the BPE tokenizer, in priority order (GPT-2's byte alphabet: "Ġ" is a space).
MERGES = (("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a"), ("e", "r"), ("o", "n"))
CONTROL = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def byte_tokens() -> list[str]:
    """GPT-2's byte-to-unicode alphabet: one printable character per byte value, in byte order."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    shifted = 0
    alphabet: dict[int, str] = {}
    for byte in range(256):
        if byte in printable:
            alphabet[byte] = chr(byte)
        else:
            alphabet[byte] = chr(256 + shifted)
            shifted += 1
    return [alphabet[byte] for byte in range(256)]


def vocabulary() -> tuple[list[str], list[int], list[str]]:
    """Tokens, their types (1 normal, 3 control) and the merges."""
    tokens = byte_tokens() + ["".join(pair) for pair in MERGES] + list(CONTROL)
    types = [gguf.TokenType.NORMAL] * (len(tokens) - len(CONTROL))
    types += [gguf.TokenType.CONTROL] * len(CONTROL)
    return tokens, [int(t) for t in types], [" ".join(pair) for pair in MERGES]


def make_model(
    path: Path,
    *,
    seed: int = 0,
    layers: int = LAYERS,
    embedding: int = EMBEDDING,
    heads: int = HEADS,
    feed_forward: int = FEED_FORWARD,
    context: int = CONTEXT,
) -> Path:
    """Write the tiny model to ``path`` and return it. The sizes make bigger ones of the same
    kind for benchmarks (12 layers, 768 wide, 2048 feed-forward: about 85M parameters)."""
    rng = np.random.default_rng(seed)
    tokens, types, merges = vocabulary()
    n_vocab = len(tokens)

    def matrix(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) * 0.02).astype(np.float16)

    writer = gguf.GGUFWriter(path, ARCH)
    writer.add_name("inferd tiny llama")
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    writer.add_context_length(context)
    writer.add_embedding_length(embedding)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(feed_forward)
    writer.add_head_count(heads)
    writer.add_head_count_kv(heads)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(embedding // heads)
    writer.add_rope_freq_base(10000.0)
    writer.add_vocab_size(n_vocab)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(tokens.index("<|endoftext|>"))
    writer.add_eos_token_id(tokens.index("<|im_end|>"))
    writer.add_add_bos_token(False)
    writer.add_chat_template(CHAT_TEMPLATE)

    norm = np.ones(embedding, dtype=np.float32)
    writer.add_tensor("token_embd.weight", matrix(n_vocab, embedding))
    for layer in range(layers):
        block = f"blk.{layer}"
        writer.add_tensor(f"{block}.attn_norm.weight", norm)
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            writer.add_tensor(f"{block}.{name}.weight", matrix(embedding, embedding))
        writer.add_tensor(f"{block}.ffn_norm.weight", norm)
        writer.add_tensor(f"{block}.ffn_gate.weight", matrix(feed_forward, embedding))
        writer.add_tensor(f"{block}.ffn_up.weight", matrix(feed_forward, embedding))
        writer.add_tensor(f"{block}.ffn_down.weight", matrix(embedding, feed_forward))
    writer.add_tensor("output_norm.weight", norm)
    writer.add_tensor("output.weight", matrix(n_vocab, embedding))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def make_adapter(
    path: Path,
    *,
    seed: int = 1,
    rank: int = 4,
    alpha: float = 8.0,
    width: int = EMBEDDING,
    layers: int = LAYERS,
) -> Path:
    """Write a LoRA adapter for the tiny model to ``path`` (GGUF, ``general.type`` adapter):
    low-rank updates of every attention projection, large enough to change what it says.
    (``width`` other than the model's makes one that fits no tiny model, for tests.)"""
    rng = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(path, ARCH)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
    writer.add_name("inferd tiny llama adapter")
    for layer in range(layers):
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            base = f"blk.{layer}.{name}.weight"
            # ggml's shapes: A is [in, rank], B is [rank, out] (numpy's are reversed).
            a = (rng.standard_normal((rank, width)) * 0.5).astype(np.float32)
            b = (rng.standard_normal((width, rank)) * 0.5).astype(np.float32)
            writer.add_tensor(f"{base}.lora_a", a)
            writer.add_tensor(f"{base}.lora_b", b)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--adapter", action="store_true", help="write a LoRA adapter instead")
    parser.add_argument("out", nargs="?", type=Path, help="the file to write")
    args = parser.parse_args()
    if args.adapter:
        print(make_adapter(args.out or Path("tiny-adapter.gguf")))
    else:
        print(make_model(args.out or Path("tiny-llama.gguf")))


if __name__ == "__main__":
    main()
