"""Benchmark: peak RSS of `inferd push` and `inferd pull` of language models, small and large.

    .venv/bin/python bench/llm_push_pull.py                  # 64 MiB and 2 GiB, GGUF and HF
    .venv/bin/python bench/llm_push_pull.py --sizes 2G --formats gguf

Each model is generated here: a GGUF holding one F16 tensor, or a Hugging Face directory
(``config.json``, index, four safetensors shards of one F16 tensor each). Headers are written
for real; the tensor data is left as a hole (``truncate``), so making a 2 GiB model costs
nothing, while push still reads, hashes and writes every byte (zeros) and pull writes them all
back. Each command is its own process; ``wait4``'s rusage gives that process's own peak RSS
(the same figure as ``/usr/bin/time -v``'s "Maximum resident set size"). Flat memory means the
same peak for 64 MiB and 2 GiB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

UNITS = {"K": 1024, "M": 1024**2, "G": 1024**3}
F16 = 1  # ggml type number
ALIGNMENT = 32


def parse_size(text: str) -> int:
    unit = UNITS.get(text[-1].upper())
    return int(float(text[:-1]) * unit) if unit else int(text)


def _string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


def make_gguf(path: Path, size: int) -> None:
    """A llama-architecture GGUF with one F16 tensor of ``size`` bytes (rows of 4096)."""
    columns = 4096
    rows = size // (2 * columns)
    metadata = (
        _string("general.architecture")
        + struct.pack("<I", 8)
        + _string("llama")
        + _string("general.file_type")
        + struct.pack("<II", 4, 1)
    )
    info = _string("token_embd.weight") + struct.pack("<IQQIQ", 2, columns, rows, F16, 0)
    header = b"GGUF" + struct.pack("<IQQ", 3, 1, 2) + metadata + info
    header += b"\x00" * (-len(header) % ALIGNMENT)
    with path.open("wb") as out:
        out.write(header)
        out.truncate(len(header) + rows * columns * 2)


def _safetensors(path: Path, name: str, size: int) -> None:
    columns = 4096
    rows = size // (2 * columns)
    entry = {
        name: {"dtype": "F16", "shape": [rows, columns], "data_offsets": [0, rows * columns * 2]}
    }
    text = json.dumps(entry).encode()
    text += b" " * (-len(text) % 8)
    with path.open("wb") as out:
        out.write(struct.pack("<Q", len(text)) + text)
        out.truncate(8 + len(text) + rows * columns * 2)


def make_hf(directory: Path, size: int, shards: int = 4) -> None:
    directory.mkdir()
    weight_map = {}
    for i in range(shards):
        shard = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        _safetensors(directory / shard, f"layers.{i}.weight", size // shards)
        weight_map[f"layers.{i}.weight"] = shard
    (directory / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    config = {"model_type": "llama", "vocab_size": 32000, "max_position_embeddings": 4096}
    (directory / "config.json").write_text(json.dumps(config))
    (directory / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ x }}"}))


def measure(argv: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Run ``argv``; return (seconds, peak RSS in bytes) of that process alone."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed")
    return elapsed, usage.ru_maxrss * 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="64M,2G", help="comma-separated, e.g. 64M,2G")
    parser.add_argument("--formats", default="gguf,hf", help="gguf, hf or both")
    parser.add_argument("--dir", type=Path, default=None, help="scratch directory")
    args = parser.parse_args()

    inferd = str(Path(sys.executable).parent / "inferd")
    rows = []
    for fmt in args.formats.split(","):
        for text in args.sizes.split(","):
            size = parse_size(text)
            scratch = Path(tempfile.mkdtemp(prefix="inferd-llm-bench-", dir=args.dir))
            try:
                source = scratch / "model"
                if fmt == "gguf":
                    source = scratch / "model.gguf"
                    make_gguf(source, size)
                else:
                    make_hf(source, size)
                env = {**os.environ, "INFERD_HOME": str(scratch / "home")}
                push = measure([inferd, "push", "--quiet", str(source), "llm:v1"], env)
                pull = measure([inferd, "pull", "--quiet", "llm:v1", str(scratch / "out")], env)
                for op, (seconds, rss) in (("push", push), ("pull", pull)):
                    rows.append((fmt, size, op, seconds, rss))
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
    print("| model | size | operation | seconds | peak RSS (MB) |")
    print("|---|---:|---|---:|---:|")
    for fmt, size, op, seconds, rss in rows:
        label = "GGUF, one tensor" if fmt == "gguf" else "HF directory, 4 shards"
        mib = size / 1024**2
        print(f"| {label} | {mib:.0f} MiB | inferd {op} | {seconds:.2f} | {rss / 1e6:.1f} |")
    keys = ("format", "bytes", "op", "seconds", "rss")
    print(json.dumps([dict(zip(keys, row, strict=True)) for row in rows]))


if __name__ == "__main__":
    main()
