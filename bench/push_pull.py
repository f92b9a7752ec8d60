"""Benchmark: `inferd push` and `inferd pull` of one large file, beside `cp` of the same file.

    .venv/bin/python bench/push_pull.py                 # 1 GiB
    .venv/bin/python bench/push_pull.py --size 256M --runs 3

Each command runs as its own process; wall time gives MB/s (10^6 bytes per second) and
``wait4``'s rusage gives that process's own peak RSS. The source file is generated (random
1 MiB blocks) and is in the page cache for every command alike. inferd fsyncs what it writes;
`cp` does not, so `cp + sync` (fsync of the copy) is measured as well.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from numpy.lib import format as npy_format

CHUNK = 1024 * 1024
UNITS = {"K": 1024, "M": 1024**2, "G": 1024**3}


def parse_size(text: str) -> int:
    unit = UNITS.get(text[-1].upper())
    return int(float(text[:-1]) * unit) if unit else int(text)


def make_file(path: Path, size: int) -> None:
    """Random bytes as a 1-D uint8 ``.npy`` (a data format the store admits)."""
    block = bytearray(os.urandom(CHUNK))
    with path.open("wb") as out:
        header = {"descr": "|u1", "fortran_order": False, "shape": (size,)}
        npy_format.write_array_header_1_0(out, header)
        written = 0
        while written < size:
            # A different block each time, so no layer of the stack can deduplicate it.
            block[:8] = written.to_bytes(8, "little")
            piece = min(CHUNK, size - written)
            out.write(block[:piece])
            written += piece


def measure(argv: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Run ``argv``; return (seconds, peak RSS in bytes) of that process alone."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed with status {proc.returncode}")
    return elapsed, usage.ru_maxrss * 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=parse_size, default=1024**3, help="e.g. 1G, 256M")
    parser.add_argument("--runs", type=int, default=1, help="repetitions (best is reported)")
    parser.add_argument("--dir", type=Path, default=None, help="scratch directory")
    args = parser.parse_args()

    inferd = str(Path(sys.executable).parent / "inferd")
    scratch = Path(tempfile.mkdtemp(prefix="inferd-bench-", dir=args.dir))
    try:
        source = scratch / "model.npy"
        make_file(source, args.size)
        signature = scratch / "signature.yaml"
        signature.write_text(
            "runtime: python\ninputs:\n  - {name: x, datatype: FP32, shape: [-1, 8]}\n"
        )
        env = {**os.environ, "INFERD_HOME": str(scratch / "home")}
        rows: dict[str, list[tuple[float, int]]] = {}
        for run in range(args.runs):
            commands = {
                "cp": ["cp", str(source), str(scratch / f"cp-{run}.npy")],
                "cp + sync": [
                    "sh",
                    "-c",
                    f"cp {source} {scratch}/cps-{run}.bin && sync {scratch}/cps-{run}.bin",
                ],
                "inferd push": [
                    inferd,
                    "push",
                    "--quiet",
                    "--runtime",
                    "python",
                    "--signature",
                    str(signature),
                    str(source),
                    f"bench:v{run}",
                ],
                "inferd pull": [inferd, "pull", f"bench:v{run}", str(scratch / f"pulled-{run}")],
            }
            for label, argv in commands.items():
                rows.setdefault(label, []).append(measure(argv, env))
        mb = args.size / 1e6
        results = {
            label: {
                "seconds": round(min(t for t, _ in runs), 3),
                "mb_per_s": round(mb / min(t for t, _ in runs), 1),
                "peak_rss_mb": round(max(r for _, r in runs) / 1e6, 1),
            }
            for label, runs in rows.items()
        }
        print(f"| operation ({args.size / 1024**3:.2f} GiB) | seconds | MB/s | peak RSS (MB) |")
        print("|---|---:|---:|---:|")
        for label, r in results.items():
            print(f"| {label} | {r['seconds']} | {r['mb_per_s']} | {r['peak_rss_mb']} |")
        print(json.dumps({"size_bytes": args.size, "results": results}))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
