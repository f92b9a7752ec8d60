"""Start-up and footprint of ``inferd serve`` (issue 18): process start to ready, and idle RSS.

    .venv/bin/python bench/serve_startup.py [--runs 9] [--src PATH]

Pushes examples/quickstart/fraud-v1 (a small ONNX model) into a temporary INFERD_HOME, then for
each configuration starts ``inferd serve fraud:v1`` ``--runs`` times, alternating the
configurations so that a change in machine speed touches them alike. Each run is timed from
process start to the first 200 of ``/v2/health/ready``; RSS is the whole process tree's (psutil),
0.5 s after ready. Medians are printed, with min and max.

Configurations: ``grpc`` binds every listener as bench/serve_bench.py does (data REST and gRPC,
control REST and gRPC, all on port 0); ``rest`` is ``--no-grpc`` (data and control REST only).
``floor`` is no server: a Python process that imports what any ONNX server here needs (numpy,
onnxruntime, pydantic, prometheus_client, uvloop, httptools, click, orjson), opens the same
model's onnxruntime session and runs one inference, then exits; its wall time and peak RSS are
the part of the figures above that no import structure can remove.
``--src`` runs another checkout's ``src`` (``PYTHONPATH``), e.g. a worktree of an older commit;
a checkout without ``--no-grpc`` then gets ``grpc_port: null`` from a settings file instead.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
from served import free_port

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "examples" / "quickstart" / "fraud-v1"
ENTRY = "import sys; from inferd.cli import main; sys.exit(main(prog_name='inferd'))"
CONFIGS = {
    "grpc": ["--grpc-port", "0", "--control-grpc-port", "0"],
    "rest": ["--no-grpc"],
}


FLOOR = f"""
import resource
import asyncio, click, httptools, numpy, onnxruntime as ort, orjson, prometheus_client, pydantic
import uvloop
options = ort.SessionOptions()
options.intra_op_num_threads = options.inter_op_num_threads = 1
session = ort.InferenceSession({str(MODEL / "model.onnx")!r}, options, ["CPUExecutionProvider"])
session.run(None, {{session.get_inputs()[0].name: numpy.zeros((1, 8), numpy.float32)}})
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6)
"""


def floor() -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of the :data:`FLOOR` process."""
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", FLOOR], check=True, capture_output=True, text=True)
    return time.monotonic() - start, float(done.stdout)


def tree_rss_mb(pid: int) -> float:
    proc = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 1e6


def one_start(env: dict[str, str], args: list[str]) -> tuple[float, float]:
    """Seconds from start to ready, and idle RSS in MB, of one ``inferd serve``."""
    port = free_port()
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-c", ENTRY, "serve", "fraud:v1", "--port", str(port),
         "--control-port", "0", *args],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError):
                if proc.poll() is not None:
                    raise SystemExit(f"inferd serve {' '.join(args)} exited") from None
                time.sleep(0.005)
        ready = time.monotonic() - start
        time.sleep(0.5)
        return ready, tree_rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=9, help="starts per configuration")
    ap.add_argument("--src", type=Path, help="run this checkout's src instead (PYTHONPATH)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="serve-startup-"))
    try:
        env = {**os.environ, "INFERD_HOME": str(work / "home")}
        configs = dict(CONFIGS)
        if args.src is not None:
            env["PYTHONPATH"] = str(args.src.resolve())
            if "--no-grpc" not in (args.src / "inferd" / "cli" / "serve_cmds.py").read_text():
                (work / "rest.yaml").write_text("grpc_port: null\ncontrol_grpc_port: null\n")
                configs["rest"] = ["--config", str(work / "rest.yaml")]
        subprocess.run([sys.executable, "-c", ENTRY, "push", "-q", str(MODEL), "fraud:v1"],
                       env=env, check=True, capture_output=True)  # fmt: skip
        one_start(env, configs["grpc"])  # warm-up: page cache, compiled bytecode where written
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in [*configs, "floor"]}
        for _ in range(args.runs):
            for name, flags in configs.items():
                results[name].append(one_start(env, flags))
            results["floor"].append(floor())
        print(f"load average before the last run: {os.getloadavg()[0]:.2f}")
        for name, runs in results.items():
            ready = [r for r, _ in runs]
            rss = [m for _, m in runs]
            when, memory = ("exit", "peak") if name == "floor" else ("ready", "idle")
            print(
                f"{name:5s} {when} s median {statistics.median(ready):.3f} "
                f"(min {min(ready):.3f}, max {max(ready):.3f}); {memory} RSS MB median "
                f"{statistics.median(rss):.1f} (min {min(rss):.1f}, max {max(rss):.1f})"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
