"""Benchmark: inferd against the reference server (plain FastAPI + uvicorn), same core, same run.

    bench/run_all.sh                          # what `make bench` runs (harness set-up included)
    .venv/bin/python bench/serve_bench.py [--duration 10] [--warmup 3] [--passes 1]

Uses the shared harness in ../shared/bench (or $BENCH_HARNESS): its models, bodies, wrk load
runner, correctness check and raw in-process limit. For each workload (tabular, mlp) and pass,
inferd and the reference server run one after the other, each pinned to $SERVER_CPUS with wrk on
$LOAD_CPUS: correctness first (verify.py check), then the ladder (concurrency 1, 8, 64). Results
go to bench/results/serve-<time>.jsonl and the "Server" section of docs/benchmarks.md (other
sections are kept as they are).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from served import free_port

ROOT = Path(__file__).resolve().parents[1]
HARNESS = Path(os.environ.get("BENCH_HARNESS", ROOT.parent / "shared" / "bench")).resolve()
BENCH_DIR = Path(os.environ.get("BENCH_DIR", Path(tempfile.gettempdir()) / "inferd-bench"))
MODELS_DIR = Path(os.environ.get("MODELS_DIR", BENCH_DIR / "models"))
BENCH_PY = os.environ.get("BENCH_PY", str(BENCH_DIR / "base" / "bin" / "python"))
SERVER_CPUS = os.environ.get("SERVER_CPUS", "1")
LOAD_CPUS = os.environ.get("LOAD_CPUS", "0")
INFERD = str(Path(sys.executable).with_name("inferd"))
DOC = ROOT / "docs" / "benchmarks.md"
SECTION = "## Server: inferd serve against the reference server"
WORKLOADS = ("tabular", "mlp")


def tree_rss_mb(pid: int) -> float:
    proc = psutil.Process(pid)
    procs = [proc, *proc.children(recursive=True)]
    return round(sum(p.memory_info().rss for p in procs) / 1e6, 1)


def harness(script: str, *args: str) -> str:
    env = {**os.environ, "MODELS_DIR": str(MODELS_DIR), "LOAD_CPUS": LOAD_CPUS,
           "SERVER_CPUS": SERVER_CPUS}  # fmt: skip
    out = subprocess.run([BENCH_PY, str(HARNESS / script), *args], env=env, check=True,
                         capture_output=True, text=True)  # fmt: skip
    return out.stdout


def verify(url: str, proto: str, model: str) -> dict[str, object]:
    out = harness("verify.py", "check", "--url", url, "--proto", proto, "--model", model,
                  "--wait", "120")  # fmt: skip
    return dict(json.loads(out.strip().splitlines()[-1]))


def ladder(url: str, body: str, pid: int, label: str, args: argparse.Namespace) -> list[dict]:
    out = harness("load.py", "--url", url, "--body", str(HARNESS / "bodies" / body),
                  "--concurrency", "1,8,64", "--pid", str(pid), "--label", label,
                  "--duration", str(args.duration), "--warmup", str(args.warmup))  # fmt: skip
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_inferd(home: Path, model: str, args: argparse.Namespace) -> dict[str, object]:
    port = free_port()
    start = time.monotonic()
    proc = subprocess.Popen(
        ["taskset", "-c", SERVER_CPUS, INFERD, "serve", f"{model}:v1", "--port", str(port),
         "--grpc-port", "0", "--control-port", "0", "--control-grpc-port", "0"],
        env={**os.environ, "INFERD_HOME": str(home)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/v2/models/{model}/infer"
        check = verify(url, "v2", model)
        ready_s = round(time.monotonic() - start, 2)
        idle = tree_rss_mb(proc.pid)
        rows = ladder(url, f"v2-{model}.json", proc.pid, "inferd", args)
    finally:
        stop(proc)
    return {
        "server": "inferd",
        "ready_s": ready_s,
        "idle_rss_mb": idle,
        "verify": check,
        "rows": rows,
    }


def run_reference(model: str, args: argparse.Namespace) -> dict[str, object]:
    port = free_port()
    start = time.monotonic()
    out = subprocess.run([str(HARNESS / "run_reference.sh"), model, str(port)], check=True,
                         capture_output=True, text=True)  # fmt: skip
    pid = int(out.stdout.strip().splitlines()[-1])
    try:
        url = f"http://127.0.0.1:{port}/predict"
        check = verify(url, "simple", model)
        ready_s = round(time.monotonic() - start, 2)
        idle = tree_rss_mb(pid)
        rows = ladder(url, f"simple-{model}.json", pid, "reference", args)
    finally:
        subprocess.run([BENCH_PY, str(HARNESS / "proctree.py"), "kill", str(pid)], check=False)
    return {"server": "reference", "ready_s": ready_s, "idle_rss_mb": idle, "verify": check,
            "rows": rows}  # fmt: skip


def push_models(home: Path) -> None:
    for model in WORKLOADS:
        folder = home.parent / model
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model.onnx").write_bytes((MODELS_DIR / f"{model}.onnx").read_bytes())
        env = {**os.environ, "INFERD_HOME": str(home)}
        subprocess.run([INFERD, "push", "-q", str(folder), f"{model}:v1"], check=True, env=env,
                       capture_output=True)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--passes", type=int, default=1, help="passes per server; medians reported")
    ap.add_argument("--no-doc", action="store_true", help="do not rewrite docs/benchmarks.md")
    args = ap.parse_args()
    # The machine is shared: say how busy it was, beside the figures.
    args.load_before = os.getloadavg()[0]
    results: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="inferd-bench-home-") as tmp:
        home = Path(tmp) / "home"
        push_models(home)
        for model in WORKLOADS:
            for n in range(args.passes):
                for server in ("inferd", "reference"):
                    measured = (
                        run_inferd(home, model, args)
                        if server == "inferd"
                        else run_reference(model, args)
                    )
                    record = {"workload": model, "pass": n, **measured}
                    results.append(record)
                    print(json.dumps(record), flush=True)
    raw_out = Path(tempfile.gettempdir()) / f"inferd-raw-{os.getpid()}.json"
    harness(
        "raw_limit.py", "--seconds", "2", "--repeat", "1", "--threads", "1", "--out", str(raw_out)
    )
    raw = json.loads(raw_out.read_text())
    raw_out.unlink()
    args.load_after = os.getloadavg()[0]
    raw["load_average"] = {"before": args.load_before, "after": args.load_after}
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / f"serve-{stamp}.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in [*results, raw])
    )
    from report import render_section, replace_section

    section = render_section(results, raw, args, " ".join(sys.argv[1:]))
    print(section)
    if not args.no_doc:
        DOC.write_text(replace_section(DOC.read_text() if DOC.exists() else "# Benchmarks\n",
                                       SECTION, section))  # fmt: skip


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
