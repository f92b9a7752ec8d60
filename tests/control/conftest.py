"""Fixtures for the control plane: a store holding the example fraud models, spec text, a real
``inferd up`` process, and a closed-loop load generator that records every request's outcome.

Everything binds port 0 and reads the port back (the gateway's from ``up.json``), so tests never
race for ports.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from inferd.config import StoreSettings
from inferd.control.up_state import UpState, read_state
from inferd.packaging import push
from inferd.store import ModelStore
from loadgen import LoadGenerator

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "examples" / "quickstart"
INFERD = [sys.executable, "-c", "import sys; from inferd.cli import main; sys.exit(main())"]
FRAUD_BODY = orjson.dumps(
    {"inputs": [{"name": "input", "shape": [1, 8], "datatype": "FP32", "data": [0.5] * 8}]}
)


def fraud_store(home: Path) -> ModelStore:
    """A store at ``home`` holding fraud:v1 and fraud:v2 from examples/quickstart."""
    store = ModelStore.from_settings(StoreSettings(home=home))
    push(store, QUICKSTART / "fraud-v1", "fraud:v1")
    push(store, QUICKSTART / "fraud-v2", "fraud:v2")
    return store


def spec_text(
    versions: dict[str, tuple[str, int, int]], *, shadow: str | None = None, drain: str = "10s"
) -> str:
    """A one-deployment spec (``fraud``) on gateway port 0: version → (model, replicas, weight)."""
    lines = [
        "apiVersion: inferd.dev/v1",
        "kind: Stack",
        "gateway:",
        "  port: 0",
        f"  drain_timeout: {drain}",
        "deployments:",
        "  - name: fraud",
        "    versions:",
    ]
    for name, (model, replicas, _) in versions.items():
        lines += [
            f"      - name: {name}",
            f"        model: {model}",
            f"        replicas: {replicas}",
        ]
    lines += ["    traffic:", "      weights:"]
    lines += [f"        {name}: {weight}" for name, (_, _, weight) in versions.items()]
    if shadow:
        lines.append(f"      shadow: {shadow}")
    return "\n".join(lines) + "\n"


@dataclass
class UpProcess:
    """A running ``inferd up`` started by a test."""

    proc: subprocess.Popen[bytes]
    home: Path
    state: UpState
    log: Path

    @property
    def gateway_port(self) -> int:
        return int(self.state.gateway_url.rsplit(":", 1)[1])

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "INFERD_HOME": str(self.home)}
        return subprocess.run(
            [*INFERD, *args], env=env, capture_output=True, text=True, timeout=120, check=check
        )

    def ps(self) -> dict[str, object]:
        return dict(orjson.loads(self.cli("ps", "--json").stdout))

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def start_up(
    home: Path, spec: Path, *args: str, timeout: float = 90, cwd: Path | None = None
) -> UpProcess:
    """Start ``inferd up SPEC ARGS`` (in ``cwd``, for a relative SPEC) and wait until its
    first apply is done (replicas ready)."""
    log = home / "up-test.log"
    env = {**os.environ, "INFERD_HOME": str(home)}
    home.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*INFERD, "up", str(spec), *args], env=env, stdout=out, stderr=out, cwd=cwd
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError("inferd up exited:\n" + log.read_text())
        found = read_state(home)
        if found is not None and "status: inferd ps" in log.read_text():
            return UpProcess(proc, home, found[0], log)
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    raise AssertionError("inferd up did not come up:\n" + log.read_text())


def banner_curl(up: UpProcess) -> tuple[int, bytes]:
    """Run the ``try:`` line of ``up``'s banner as printed, by bash, with curl writing the
    status after the body: (status, body)."""
    (line,) = [line for line in up.log.read_text().splitlines() if line.startswith("try: ")]
    command = line.removeprefix("try: ") + " -w '\\n%{http_code}'"
    done = subprocess.run(["bash", "-c", command], capture_output=True, timeout=120, check=True)
    body, _, status = done.stdout.rpartition(b"\n")
    return int(status), body


class Load(LoadGenerator):
    """Closed-loop load: ``workers`` threads POSTing the fraud body to ``path`` on the gateway."""

    def __init__(self, port: int, path: str = "/v2/models/fraud/infer", workers: int = 4) -> None:
        super().__init__(port, path, FRAUD_BODY, workers=workers)
