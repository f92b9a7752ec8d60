"""Benchmark: push and pull of a 1 GiB model through a local registry, beside `skopeo copy`.

    .venv/bin/python bench/registry_bench.py                 # 1 GiB in 8 files
    .venv/bin/python bench/registry_bench.py --size 256M --files 4

Starts Debian's `docker-registry` (CNCF distribution) on loopback, with storage in a scratch
directory, one fresh registry per upload measured (so nothing is skipped as already present).
Every command runs as its own process; MB/s is model bytes (10^6) per second of wall time,
process start included. Measured:

- `inferd push DIR host/…:v1`: package into the local store (hash, fsync) and upload;
- `inferd tag local:v1 host/…:v1`: upload only, of a version already in the local store;
- `skopeo copy oci:<store>:name:tag docker://host/…`: the same artifact, uploaded by skopeo;
- `inferd inspect host/…:v1` from an empty store: download into the store, every blob verified;
- `inferd pull host/…:v1 DIR` from an empty store: that, plus writing the files to DIR;
- `skopeo copy docker://host/… oci:DIR:v1`: the same download by skopeo;
- a second version sharing all files but one: bytes uploaded by its push and downloaded by
  its pull into a store that holds the first version (from the commands' `--json`).

With ``--runs N`` each operation's best time over N runs is reported (the development machine
is shared, so single runs vary by a factor of two).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from numpy.lib import format as npy_format
from served import free_port

CHUNK = 1024 * 1024
UNITS = {"K": 1024, "M": 1024**2, "G": 1024**3}
METADATA = "runtime: python\ninputs:\n  - {name: x, datatype: FP32, shape: [-1, 8]}\n"


def parse_size(text: str) -> int:
    unit = UNITS.get(text[-1].upper())
    return int(float(text[:-1]) * unit) if unit else int(text)


def write_random(path: Path, size: int, seed: int) -> None:
    """Random bytes as a 1-D uint8 ``.npy`` shard (a data format the store admits)."""
    block = bytearray(os.urandom(CHUNK))
    with path.open("wb") as out:
        header = {"descr": "|u1", "fortran_order": False, "shape": (size,)}
        npy_format.write_array_header_1_0(out, header)
        written = 0
        while written < size:
            # A different block each time, so nothing below can deduplicate it.
            block[:16] = seed.to_bytes(8, "little") + written.to_bytes(8, "little")
            piece = min(CHUNK, size - written)
            out.write(block[:piece])
            written += piece


def make_versions(root: Path, size: int, files: int) -> tuple[Path, Path]:
    """v1: ``files`` weight shards + config; v2: the same shards but the last, new config."""
    v1, v2 = root / "v1", root / "v2"
    v1.mkdir()
    v2.mkdir()
    shard = size // files
    for index in range(files):
        name = f"model-{index:05d}-of-{files:05d}.npy"
        write_random(v1 / name, shard, index)
        if index == files - 1:
            write_random(v2 / name, shard, 1000 + index)
        else:
            os.link(v1 / name, v2 / name)
    for version, text in ((v1, "v1"), (v2, "v2")):
        (version / "config.json").write_text(json.dumps({"version": text}))
        (version / "inferd.model.yaml").write_text(METADATA)
    return v1, v2


@contextlib.contextmanager
def registry(root: Path) -> Iterator[str]:
    """A fresh docker-registry storing under ``root``; yields ``127.0.0.1:PORT``."""
    root.mkdir(parents=True)
    port = free_port()
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\n"
        f"storage: {{filesystem: {{rootdirectory: {root / 'data'}}}}}\n"
        f"http: {{addr: '127.0.0.1:{port}', secret: bench}}\n"
    )
    proc = subprocess.Popen(
        ["docker-registry", "serve", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1)
                break
            time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(root, ignore_errors=True)


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, dict[str, object] | None]:
    """Run ``argv``; return its wall time and its stdout parsed as JSON (when it is)."""
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr}")
    try:
        return elapsed, json.loads(done.stdout)
    except json.JSONDecodeError:
        return elapsed, None


Row = tuple[str, float, int]
"""(operation, seconds, bytes over the network)."""


def _bytes(document: dict[str, object] | None) -> int:
    transfer = (document or {}).get("transfer")
    return int(transfer["bytes"]) if isinstance(transfer, dict) else 0


def measure(inferd: str, scratch: Path, v1: Path, v2: Path, model: int) -> list[Row]:
    """One run of every operation, each against fresh stores (under ``scratch``)."""
    rows: list[Row] = []

    def env(home: str, registry_host: str = "") -> dict[str, str]:
        return {
            **os.environ,
            "INFERD_HOME": str(scratch / home),
            "INFERD_INSECURE_REGISTRIES": registry_host,
            "DOCKER_CONFIG": str(scratch / "docker"),
        }

    with registry(scratch / "reg-a") as host:
        ref = f"{host}/bench/model"
        seconds, pushed = timed([inferd, "push", str(v1), f"{ref}:v1", "--json"], env("a", host))
        rows.append(("inferd push DIR host/…:v1 (package + upload)", seconds, _bytes(pushed)))
        seconds, _ = timed([inferd, "inspect", f"{ref}:v1", "--json"], env("b", host))
        rows.append(("inferd inspect host/…:v1 (download into the store)", seconds, model))
        out = scratch / "pulled"
        seconds, pulled = timed([inferd, "pull", f"{ref}:v1", str(out), "--json"], env("c", host))
        rows.append(("inferd pull host/…:v1 DIR (download + write files)", seconds, _bytes(pulled)))
        seconds, _ = timed(
            ["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{ref}:v1",
             f"oci:{scratch / 'skopeo-pulled'}:v1"],
            env("c", host),
        )  # fmt: skip
        rows.append(("skopeo copy docker://host/…:v1 oci:DIR:v1", seconds, model))
        seconds, second = timed([inferd, "push", str(v2), f"{ref}:v2", "--json"], env("a", host))
        rows.append(("inferd push v2 (one shard changed)", seconds, _bytes(second)))
        v2_out = scratch / "pulled-v2"
        seconds, again = timed([inferd, "pull", f"{ref}:v2", str(v2_out), "--json"], env("c", host))
        rows.append(
            ("inferd pull v2 DIR, store holding v1 (writes every file)", seconds, _bytes(again))
        )
    timed([inferd, "push", str(v1), "bench/model:v1", "--json"], env("local"))
    with registry(scratch / "reg-b") as host:
        seconds, _ = timed(
            [inferd, "tag", "bench/model:v1", f"{host}/bench/model:v1", "--json"],
            env("local", host),
        )
        rows.append(("inferd tag local:v1 host/…:v1 (upload only)", seconds, model))
    with registry(scratch / "reg-c") as host:
        seconds, _ = timed(
            ["skopeo", "copy", "-q", "--dest-tls-verify=false",
             f"oci:{scratch / 'local' / 'store'}:bench/model:v1",
             f"docker://{host}/bench/model:v1"],
            env("local", host),
        )  # fmt: skip
        rows.append(("skopeo copy oci:<store>:bench/model:v1 docker://host/…", seconds, model))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=parse_size, default=1024**3, help="e.g. 1G, 256M")
    parser.add_argument("--files", type=int, default=8, help="weight shards the size splits into")
    parser.add_argument("--runs", type=int, default=1, help="repetitions (best time is reported)")
    parser.add_argument("--dir", type=Path, default=None, help="scratch directory")
    args = parser.parse_args()

    inferd = str(Path(sys.executable).parent / "inferd")
    scratch = Path(tempfile.mkdtemp(prefix="inferd-registry-bench-", dir=args.dir))
    best: dict[str, Row] = {}
    try:
        v1, v2 = make_versions(scratch, args.size, args.files)
        model = sum(p.stat().st_size for p in v1.iterdir())
        for run in range(args.runs):
            for row in measure(inferd, scratch / f"run-{run}", v1, v2, model):
                if row[0] not in best or row[1] < best[row[0]][1]:
                    best[row[0]] = row
            shutil.rmtree(scratch / f"run-{run}", ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    print(f"model: {model / 1e6:.1f} MB in {args.files} files + config; best of {args.runs}")
    print("MB/s = model MB / wall seconds (whole-model rows only)\n")
    print("| operation | seconds | MB/s | bytes over the network |")
    print("|---|---:|---:|---:|")
    for name, seconds, moved in best.values():
        rate = f"{model / 1e6 / seconds:.0f}" if moved >= model else "-"
        print(f"| {name} | {seconds:.2f} | {rate} | {moved:,} |")


if __name__ == "__main__":
    main()
