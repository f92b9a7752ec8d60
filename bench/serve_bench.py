"""Benchmark: inferd against the reference server and the Python HTTP floor, same core, same run.

    bench/run_all.sh                          # what `make bench` runs (harness set-up included)
    .venv/bin/python bench/serve_bench.py [--duration 10] [--warmup 3] [--passes 1] [--workers 1,2]

Uses the shared harness in ../shared/bench (or $BENCH_HARNESS): its models, bodies, wrk load
runner, correctness check, Python HTTP floor and raw in-process limit. For each workload (tabular,
mlp) and pass, inferd, the reference server and the floor (raw ASGI on uvicorn, fixed answer, no
model: run_floor.sh) run one after the other, each pinned to $SERVER_CPUS with wrk on $LOAD_CPUS.
Each is timed from process start to its first 2xx answer to the workload's request (ready; every
server is started once unmeasured first, so that no measured start reads cold files), then
checked against onnxruntime (verify.py check; not the floor, whose answer is fixed), then loaded
with the ladder (concurrency 1, 8, 64). The floor gets inferd's body (v2-<model>.json).

--workers 1,2 also runs ``inferd serve --workers 2`` in each pass; a server with several workers
is pinned to --multi-cpus (default $LOAD_CPUS,$SERVER_CPUS: both cores of the two-core machine,
so its workers share the cores with wrk) and is reported as such. Results go to
bench/results/serve-<time>.jsonl and the "Server" section of docs/benchmarks.md (other sections
are kept as they are).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import NamedTuple

import psutil
from served import BENCH_DIR, HARNESS, INFERD, MODELS_DIR, free_port

ROOT = Path(__file__).resolve().parents[1]
BENCH_PY = os.environ.get("BENCH_PY", str(BENCH_DIR / "base" / "bin" / "python"))
SERVER_CPUS = os.environ.get("SERVER_CPUS", "1")
LOAD_CPUS = os.environ.get("LOAD_CPUS", "0")
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


def wait_ready(url: str, body: str, alive: Callable[[], bool], timeout: float = 120) -> None:
    """Poll ``url`` with the workload's request until it answers 2xx (every 5 ms)."""
    data = (HARNESS / "bodies" / body).read_bytes()
    deadline = time.monotonic() + timeout
    while True:
        request = urllib.request.Request(
            url, data=data, headers={"content-type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=5):
                return
        except (urllib.error.URLError, ConnectionError):
            if not alive():
                raise SystemExit(f"the server behind {url} exited before it was ready") from None
            if time.monotonic() > deadline:
                raise SystemExit(f"{url} not ready after {timeout:g} s") from None
            time.sleep(0.005)


def pid_alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def kill_tree(pid: int) -> None:
    """Stop a harness-started server (run_reference.sh, run_floor.sh) and all its children."""
    subprocess.run([BENCH_PY, str(HARNESS / "proctree.py"), "kill", str(pid)], check=False)


class Started(NamedTuple):
    """A server that answered the workload's request: its PID, URL, request body, and seconds
    from process start to that first answer."""

    pid: int
    url: str
    body: str
    ready_s: float


@contextlib.contextmanager
def inferd_server(home: Path, model: str, workers: int, cpus: str) -> Iterator[Started]:
    port = free_port()
    start = time.monotonic()
    proc = subprocess.Popen(
        ["taskset", "-c", cpus, *INFERD, "serve", f"{model}:v1", "--port", str(port),
         "--grpc-port", str(free_port()), "--control-port", "0", "--control-grpc-port", "0",
         "--workers", str(workers)],  # --workers N shares fixed ports: gRPC's too
        env={**os.environ, "INFERD_HOME": str(home)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url, body = f"http://127.0.0.1:{port}/v2/models/{model}/infer", f"v2-{model}.json"
        wait_ready(url, body, lambda: proc.poll() is None)
        yield Started(proc.pid, url, body, round(time.monotonic() - start, 3))
    finally:
        stop(proc)


@contextlib.contextmanager
def harness_server(server: str, model: str) -> Iterator[Started]:
    """The reference server (``reference``) or the Python HTTP floor (``floor``), on
    $SERVER_CPUS; the floor answers any POST path, and gets inferd's request and path."""
    port = free_port()
    start = time.monotonic()
    script, script_args = (
        ("run_reference.sh", [model]) if server == "reference" else ("run_floor.sh", [])
    )
    env = {**os.environ, "SERVER_CPUS": SERVER_CPUS, "LOAD_CPUS": LOAD_CPUS}
    out = subprocess.run([str(HARNESS / script), *script_args, str(port)], check=True, env=env,
                         capture_output=True, text=True)  # fmt: skip
    pid = int(out.stdout.strip().splitlines()[-1])
    try:
        if server == "reference":
            url, body = f"http://127.0.0.1:{port}/predict", f"simple-{model}.json"
        else:
            url, body = f"http://127.0.0.1:{port}/v2/models/{model}/infer", f"v2-{model}.json"
        wait_ready(url, body, lambda: pid_alive(pid))
        yield Started(pid, url, body, round(time.monotonic() - start, 3))
    finally:
        kill_tree(pid)


def run_inferd(home: Path, model: str, workers: int, args: argparse.Namespace) -> dict[str, object]:
    cpus = SERVER_CPUS if workers == 1 else args.multi_cpus
    label = "inferd" if workers == 1 else f"inferd-w{workers}"
    with inferd_server(home, model, workers, cpus) as started:
        check = verify(started.url, "v2", model)
        idle = tree_rss_mb(started.pid)
        rows = ladder(started.url, started.body, started.pid, label, args)
    return {"server": label, "workers": workers, "cpus": cpus, "ready_s": started.ready_s,
            "idle_rss_mb": idle, "verify": check, "rows": rows}  # fmt: skip


def run_harness_server(server: str, model: str, args: argparse.Namespace) -> dict[str, object]:
    """Measure the reference server or the floor (which is not verified: its answer is fixed)."""
    with harness_server(server, model) as started:
        check = verify(started.url, "simple", model) if server == "reference" else None
        idle = tree_rss_mb(started.pid)
        rows = ladder(started.url, started.body, started.pid, server, args)
    return {"server": server, "workers": 1, "cpus": SERVER_CPUS, "ready_s": started.ready_s,
            "idle_rss_mb": idle, "verify": check, "rows": rows}  # fmt: skip


def warm_up(home: Path) -> None:
    """Start and stop each server once, unmeasured, so that no measured start is the first to
    read its files (page cache, bytecode written on first import)."""
    for model in WORKLOADS:
        with inferd_server(home, model, 1, SERVER_CPUS):
            pass
    for server in ("reference", "floor"):
        with harness_server(server, WORKLOADS[0]):
            pass


def worker_counts(text: str) -> list[int]:
    """``--workers 2`` or ``1,2``: the one-worker run is always made (the targets use it)."""
    try:
        counts = {int(part) for part in text.split(",") if part.strip()}
    except ValueError:
        raise argparse.ArgumentTypeError(f"--workers: not a list of integers: {text!r}") from None
    if any(n < 1 for n in counts):
        raise argparse.ArgumentTypeError(f"--workers: counts must be at least 1: {text!r}")
    return sorted(counts | {1})


def push_models(home: Path) -> None:
    for model in WORKLOADS:
        folder = home.parent / model
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model.onnx").write_bytes((MODELS_DIR / f"{model}.onnx").read_bytes())
        env = {**os.environ, "INFERD_HOME": str(home)}
        subprocess.run([*INFERD, "push", "-q", str(folder), f"{model}:v1"], check=True, env=env,
                       capture_output=True)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--passes", type=int, default=1, help="passes per server; medians reported")
    ap.add_argument("--no-doc", action="store_true", help="do not rewrite docs/benchmarks.md")
    ap.add_argument("--workers", type=worker_counts, default=[1], metavar="N[,N...]",
                    help="inferd serve --workers counts to run (1 always runs)")  # fmt: skip
    ap.add_argument("--multi-cpus", default=f"{LOAD_CPUS},{SERVER_CPUS}",
                    help="cpus of a server with several workers (wrk's core included)")  # fmt: skip
    args = ap.parse_args()
    # The machine is shared: say how busy it was, beside the figures.
    args.load_before = os.getloadavg()[0]
    results: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="inferd-bench-home-") as tmp:
        home = Path(tmp) / "home"
        push_models(home)
        warm_up(home)
        for model in WORKLOADS:
            for pass_no in range(args.passes):
                runs: list[Callable[[], dict[str, object]]] = [
                    partial(run_inferd, home, model, 1, args),
                    partial(run_harness_server, "reference", model, args),
                    partial(run_harness_server, "floor", model, args),
                    *(partial(run_inferd, home, model, k, args) for k in args.workers if k > 1),
                ]
                for run in runs:
                    measured = run()
                    record = {"workload": model, "pass": pass_no, **measured}
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
