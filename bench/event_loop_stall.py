"""Event-loop stalls: ``/v2/health/live`` latency on a real ``inferd serve`` while clients send
8 MiB inference bodies back to back.

    .venv/bin/python bench/event_loop_stall.py                  # every body kind, 10 s each
    .venv/bin/python bench/event_loop_stall.py --kinds bytes,json --clients 20 --seconds 5
    .venv/bin/python bench/event_loop_stall.py --inline         # decode on the loop, to compare
    .venv/bin/python bench/event_loop_stall.py --kinds bytes --bytes-elements 65536  # a lower cap

Two ONNX models are pushed to a fresh store: ``rowsum`` (FP32 ``x`` [-1, 64] → its row sums) and
``count`` (BYTES ``s`` [-1] → its shape, so the answer stays small). A prober GETs
``/v2/health/live`` every 5 ms over one keep-alive connection, first alone (the baseline), then
while ``--clients`` closed-loop clients (a child process, so their work never delays the
prober) each send one kind of body, back to back or, with ``--rate``, paced (evenly: each
client starts its share of the interval after the one before):

* ``binary``: FP32 rows in the binary tensor extension (decoding is a zero-copy view);
* ``json``: the same rows as JSON numbers (JSON parsing and numpy conversion);
* ``bytes``: BYTES in the binary extension, as many elements as ``limits.max_bytes_elements``
  allows (each read one by one in Python);
* ``mismatch``: the ``bytes`` body sent to ``rowsum``, which takes FP32: refused by the signature
  check before any element is decoded.

Reported per phase: prober p50/p99/max in ms, big requests answered and their statuses. Target:
prober p99 < 10 ms in every phase. ``--server-cpus``/``--load-cpus`` pin the server and this
process with its load child (taskset), as the serving benchmark does. Results go to
``bench/results/event-loop-stall-<time>.json``; the summary table is printed last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import orjson
from onnx import TensorProto, helper
from served import Served, save_result

from inferd.config import DEFAULT_MAX_BYTES_ELEMENTS

BODY_BYTES = 8 * 1024 * 1024
FEATURES = 64
KINDS = ("binary", "json", "bytes", "mismatch")
TARGET_P99_MS = 10.0


# -- models and bodies -------------------------------------------------------------------------


def _save(graph: onnx.GraphProto, folder: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, folder / "model.onnx")
    return folder


def make_models(root: Path) -> dict[str, Path]:
    rowsum = helper.make_graph(
        [helper.make_node("ReduceSum", ["x", "axes"], ["y"], keepdims=1)],
        "rowsum",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", FEATURES])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 1])],
        [helper.make_tensor("axes", TensorProto.INT64, [1], [1])],
    )
    count = helper.make_graph(
        [helper.make_node("Shape", ["s"], ["n"])],
        "count",
        [helper.make_tensor_value_info("s", TensorProto.STRING, ["n"])],
        [helper.make_tensor_value_info("n", TensorProto.INT64, [1])],
    )
    return {"rowsum": _save(rowsum, root / "rowsum"), "count": _save(count, root / "count")}


def _binary_body(name: str, datatype: str, shape: list[int], raw: bytes) -> tuple[bytes, str]:
    header = orjson.dumps({"inputs": [{"name": name, "datatype": datatype, "shape": shape,
                                       "parameters": {"binary_data_size": len(raw)}}]})  # fmt: skip
    return header + raw, str(len(header))


def make_body(kind: str, count: int) -> tuple[str, bytes, str | None]:
    """A kind → (model, body of about 8 MiB, Inference-Header-Content-Length or None)."""
    rng = np.random.default_rng(7)
    if kind in ("binary", "json"):
        rows = BODY_BYTES // (FEATURES * 4)
        floats = rng.random((rows, FEATURES), dtype=np.float32)
        if kind == "binary":
            return ("rowsum", *_binary_body("x", "FP32", [rows, FEATURES], floats.tobytes()))
        # JSON numbers of 6 decimals take about 9 bytes each: as many rows as fit in 8 MiB.
        rows = BODY_BYTES // (FEATURES * 9)
        data = np.round(floats[:rows].astype(np.float64), 6).tolist()
        doc = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [rows, FEATURES],
                           "data": data}]}  # fmt: skip
        return "rowsum", orjson.dumps(doc), None
    size = BODY_BYTES // count - 4
    strings = (size.to_bytes(4, "little") + b"s" * size) * count
    if kind == "bytes":
        return ("count", *_binary_body("s", "BYTES", [count], strings))
    return ("rowsum", *_binary_body("x", "BYTES", [count], strings))  # mismatch


# -- the load (a child process) ----------------------------------------------------------------


async def _client(
    port: int, request: bytes, until: float, interval: float, start: float, statuses: Counter[str]
) -> None:
    """Send ``request`` until ``until``: back to back, or one every ``interval`` seconds from
    ``start`` on."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    next_at = start
    try:
        while time.monotonic() < until:
            if interval:
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                next_at += interval
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status = head.split(b" ", 2)[1].decode()
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            statuses[status] += 1
            if b"connection: close" in head.lower():
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
    finally:
        writer.close()


async def _load(
    port: int, kind: str, clients: int, seconds: float, rate: float, count: int
) -> dict[str, object]:
    model, body, header_len = make_body(kind, count)
    head = [f"POST /v2/models/{model}/infer HTTP/1.1", "Host: localhost",
            "Content-Type: application/json", f"Content-Length: {len(body)}"]  # fmt: skip
    if header_len is not None:
        head.append(f"Inference-Header-Content-Length: {header_len}")
    request = ("\r\n".join(head) + "\r\n\r\n").encode() + body
    statuses: Counter[str] = Counter()
    print(json.dumps({"ready": True}), flush=True)
    now = time.monotonic()
    until = now + seconds
    interval = clients / rate if rate else 0.0
    # Paced clients start a share of the interval apart, so that bodies arrive evenly at the
    # rate: started together, all 20 sent at once every interval (a burst of 160 MiB).
    await asyncio.gather(
        *(
            _client(port, request, until, interval, now + interval * i / clients, statuses)
            for i in range(clients)
        )
    )
    return {"requests": sum(statuses.values()), "statuses": dict(statuses),
            "body_mib": round(len(body) / 2**20, 2)}  # fmt: skip


def load_main(args: argparse.Namespace) -> None:
    result = asyncio.run(
        _load(args.port, args.kind, args.clients, args.seconds, args.rate, args.bytes_elements)
    )
    print(json.dumps(result), flush=True)


# -- the prober and the phases -----------------------------------------------------------------


def probe(port: int, stop: threading.Event, latencies: list[float]) -> None:
    """GET /v2/health/live every 5 ms until ``stop``; each latency in seconds (a failure counts
    as the time it took, and reconnects).

    A raw keep-alive socket, not an HTTP library: on this 2-core machine the prober shares a core
    with the load, and httpx's own ~1 ms a request (the baseline's p50 was 1.2-1.5 ms with it)
    was measured as if it were the server's."""
    request = b"GET /v2/health/live HTTP/1.1\r\nHost: localhost\r\n\r\n"
    sock: socket.socket | None = None
    while not stop.is_set():
        started = time.perf_counter()
        try:
            if sock is None:
                sock = socket.create_connection(("127.0.0.1", port), timeout=10)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(request)
            _read_answer(sock)
        except OSError:
            if sock is not None:
                sock.close()
            sock = None
        latencies.append(time.perf_counter() - started)
        time.sleep(0.005)
    if sock is not None:
        sock.close()


def _read_answer(sock: socket.socket) -> None:
    """Read one HTTP answer with a ``Content-Length`` (a health check's) off ``sock``."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    while len(body) < length:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        body += chunk


def summary(latencies: list[float]) -> dict[str, float]:
    ms = sorted(x * 1000 for x in latencies)
    p99 = statistics.quantiles(ms, n=100)[98] if len(ms) > 1 else ms[0]
    return {"probes": len(ms), "p50_ms": round(statistics.median(ms), 2),
            "p99_ms": round(p99, 2), "max_ms": round(ms[-1], 2)}  # fmt: skip


class Bench:
    def __init__(self, args: argparse.Namespace, home: Path) -> None:
        self.args = args
        self.home = home
        env = {"INFERD_LIMITS__MAX_BYTES_ELEMENTS": str(args.bytes_elements)}
        if args.inline:
            env["INFERD_LIMITS__INLINE_DECODE_BYTES"] = str(2**62)
        self.server = Served(home, env, cpus=args.server_cpus)

    def start(self) -> None:
        for name, folder in make_models(self.home.parent / "models").items():
            self.server.push(folder, f"{name}:v1")
        self.server.start(["rowsum:v1", "count:v1"], self.home.parent / "serve.log")

    def phase(self, kind: str | None) -> dict[str, object]:
        latencies: list[float] = []
        stop = threading.Event()
        load = None
        if kind is not None:
            load = subprocess.Popen(
                [sys.executable, __file__, "--load", "--port", str(self.server.port),
                 "--kind", kind, "--clients", str(self.args.clients),
                 "--seconds", str(self.args.seconds), "--rate", str(self.args.rate),
                 "--bytes-elements", str(self.args.bytes_elements)],
                stdout=subprocess.PIPE,
            )  # fmt: skip
            assert load.stdout is not None
            load.stdout.readline()  # {"ready": true}: bodies built, clients about to start
        prober = threading.Thread(target=probe, args=(self.server.port, stop, latencies))
        prober.start()
        if load is None:
            time.sleep(self.args.seconds)
            sent: dict[str, object] = {}
        else:
            out = load.communicate(timeout=self.args.seconds + 120)[0].decode()
            sent = json.loads(out.strip().splitlines()[-1])
        stop.set()
        prober.join()
        return {"kind": kind or "baseline", **summary(latencies), **sent}


def table(phases: list[dict[str, object]]) -> str:
    lines = ["| body | health p50 ms | p99 ms | max ms | big requests (statuses) |",
             "|---|---|---|---|---|"]  # fmt: skip
    for p in phases:
        sent = f"{p.get('requests', '—')} ({p.get('statuses', {})})" if "requests" in p else "—"
        lines.append(f"| {p['kind']} | {p['p50_ms']} | {p['p99_ms']} | {p['max_ms']} | {sent} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kinds", default=",".join(KINDS), help="body kinds, comma-separated")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="bodies per second, all clients (0: back to back)"
    )
    parser.add_argument("--inline", action="store_true", help="decode every body on the loop")
    parser.add_argument(
        "--bytes-elements",
        type=int,
        default=DEFAULT_MAX_BYTES_ELEMENTS,
        help="BYTES elements in a bytes/mismatch body, and the server's limits.max_bytes_elements",
    )
    parser.add_argument("--server-cpus", default=os.environ.get("SERVER_CPUS"))
    parser.add_argument("--load-cpus", default=os.environ.get("LOAD_CPUS"))
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--kind", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        load_main(args)
        return
    if args.load_cpus and shutil.which("taskset"):
        os.sched_setaffinity(0, {int(c) for c in args.load_cpus.split(",")})
    kinds = [k for k in args.kinds.split(",") if k]
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise SystemExit(f"unknown body kinds {sorted(unknown)}; choose from {', '.join(KINDS)}")
    with tempfile.TemporaryDirectory(prefix="inferd-stall-") as tmp:
        bench = Bench(args, Path(tmp) / "home")
        bench.start()
        try:
            phases = [bench.phase(None), *(bench.phase(kind) for kind in kinds)]
        finally:
            exit_code = bench.server.stop()
    result = {
        "clients": args.clients,
        "rate": args.rate or "back to back",
        "seconds": args.seconds,
        "inline": args.inline,
        "bytes_elements": args.bytes_elements,
        "target_p99_ms": TARGET_P99_MS,
        "met": all(float(str(p["p99_ms"])) < TARGET_P99_MS for p in phases),
        "loadavg_1m_end": round(os.getloadavg()[0], 2),
        "server_exit_code": exit_code,
        "phases": phases,
    }
    save_result("event-loop-stall", result)
    print(json.dumps(result))
    print(table(phases))


if __name__ == "__main__":
    main()
