"""A real ``inferd serve`` for the benchmarks that measure one (soak, slowloris, event-loop
stall): models pushed to a scratch store, every listener on a free loopback port, started and
waited for until ready, stopped with SIGTERM."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Protocol

import httpx

#: The ``inferd`` command, run through ``inferd.cli.main`` rather than the console script, so an
#: A/B of an older source tree on ``PYTHONPATH`` does not depend on today's entry point.
INFERD = [sys.executable, "-c", "import sys; from inferd.cli import main; sys.exit(main())"]
ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
HARNESS = Path(os.environ.get("BENCH_HARNESS", ROOT.parent / "shared" / "bench")).resolve()
#: Where the harness's set-up (setup.sh) puts its environments and models.
BENCH_DIR = Path(os.environ.get("BENCH_DIR", Path(tempfile.gettempdir()) / "inferd-bench"))
MODELS_DIR = Path(os.environ.get("MODELS_DIR", BENCH_DIR / "models"))
LOAD_CPUS = os.environ.get("LOAD_CPUS", "0")


def save_result(kind: str, result: dict[str, Any]) -> Path:
    """Write ``result`` to ``bench/results/<kind>-<time>.json`` and return the path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


class _Stoppable(Protocol):
    def stop(self) -> int: ...


class Runnable(Protocol):
    """A bench over one server: ``start`` it, ``run`` the load, then its ``server`` stops."""

    server: _Stoppable

    def start(self) -> None: ...

    def run(self) -> dict[str, Any]: ...


def run_saved(kind: str, bench: Runnable) -> tuple[dict[str, Any], Path]:
    """Start ``bench`` and run it, stop its server whatever happens, and save the result (with
    the server's ``exit_code``) as :func:`save_result` does: the result and its path."""
    bench.start()
    try:
        result = bench.run()
    finally:
        exit_code = bench.server.stop()
    result["exit_code"] = exit_code
    return result, save_result(kind, result)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wrk(url: str, body_file: Path, concurrency: int, seconds: float) -> dict[str, float]:
    """One closed-loop ``wrk -t1`` run (the harness's post.lua POSTs ``body_file``), pinned to
    $LOAD_CPUS: post.lua's summary (requests, non_2xx, errors, p50_us, p99_us, ...) and rps."""
    command = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--latency",
               "-s", str(HARNESS / "post.lua"), url]  # fmt: skip
    if shutil.which("taskset"):
        command = ["taskset", "-c", LOAD_CPUS, *command]
    out = subprocess.run(command, env={**os.environ, "BODY_FILE": str(body_file)},
                         capture_output=True, text=True, check=True)  # fmt: skip
    line = next(x for x in out.stdout.splitlines() if x.startswith("BENCH_JSON "))
    result: dict[str, float] = json.loads(line.removeprefix("BENCH_JSON "))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of every thread of ``pid`` (from /proc), for CPU per request:
    far steadier than req/s on a shared machine."""
    ticks = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


class Served:
    """``inferd serve REFERENCES`` on store ``home``; ``env`` adds settings (``INFERD_*``),
    ``cpus`` pins the server with taskset where it exists."""

    def __init__(
        self, home: Path, env: dict[str, str] | None = None, cpus: str | None = None
    ) -> None:
        self.home = home
        self.env = {**os.environ, "INFERD_HOME": str(home), **(env or {})}
        self.cpus = cpus
        self.port, self.control_port = free_port(), free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        return (self.home / f"server-{self.control_port}.token").read_text().strip()

    def push(self, source: Path, reference: str) -> None:
        subprocess.run([*INFERD, "push", str(source), reference], env=self.env, check=True,
                       capture_output=True)  # fmt: skip

    def push_harness_model(self, model: str) -> None:
        """Push the harness's ``MODEL.onnx`` as ``MODEL:v1`` once per store (a marker file in
        the store's home says it was)."""
        marker = self.home / f"pushed-{model}"
        if marker.exists():
            return
        folder = self.home.parent / f"{self.home.name}-{model}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model.onnx").write_bytes((MODELS_DIR / f"{model}.onnx").read_bytes())
        self.push(folder, f"{model}:v1")
        marker.touch()

    def start(self, references: list[str], log: Path) -> None:
        command = [*INFERD, "serve", *references, "--port", str(self.port),
                   "--grpc-port", str(free_port()), "--control-port", str(self.control_port),
                   "--control-grpc-port", str(free_port())]  # fmt: skip
        if self.cpus and shutil.which("taskset"):
            command = ["taskset", "-c", self.cpus, *command]
        self.proc = subprocess.Popen(command, env=self.env, stdout=log.open("wb"),
                                     stderr=subprocess.STDOUT)  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base}/v2/health/ready", timeout=1).status_code == 200:
                    return
            time.sleep(0.2)
        raise SystemExit(f"inferd serve did not become ready in 60 s (see {log})")

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)
