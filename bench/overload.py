"""Overload (RELIABILITY R10): a real ``inferd serve`` offered 5x its capacity with a queue limit
of 64, measuring how fast the excess is shed, what the accepted requests wait, the server's RSS,
and how soon shedding stops once the load does.

    .venv/bin/python bench/overload.py                        # 5x for 10 s, queue limit 64
    .venv/bin/python bench/overload.py --factor 5 --overload-s 20 --layers 512
    .venv/bin/python bench/overload.py --queue-wait-ms 20          # with a queue-wait limit
    .venv/bin/python bench/overload.py --queue-wait-ms 20 --offered-rps 1750  # a fixed rate

The model is made here: ``--layers`` MatMul + Tanh layers of ``--width`` (one shared weight),
so that a row costs a known few milliseconds and the server's capacity is a few hundred
requests a second on one core. The server runs pinned to $SERVER_CPUS (default 1) with
``INFERD_BATCHING__MAX_QUEUE_SIZE=--queue``, ``MAX_QUEUE_WAIT_MS=--queue-wait-ms`` (0: no
limit) and ``MAX_BATCH_SIZE=--batch``; the load runs in a child process pinned to
$LOAD_CPUS (default 0), over raw keep-alive sockets (httpx's own cost would swamp a core at
this rate, and wrk is closed-loop: it cannot offer more than the server answers).

Phases: capacity (closed loop, ``--capacity-clients`` clients, fewer than the queue limit, so
nothing is shed), unloaded (open loop at ``--unloaded-rps``), overload (open loop at
``--factor`` x capacity: every request is sent on schedule, whatever the others are doing),
then straight after it a probe stream at ``--probe-rps`` for ``--probe-s``. Every request's
status, latency (from the moment it was written) and Retry-After are kept. Reported: shed
latency p50/p99/max (R10: <= 50 ms) and whether every shed answer had Retry-After; accepted
p99 against unloaded p99 (R10: <= 2x); server RSS before, peak (sampled every 50 ms) and after
(R10: growth < 100 MB); the time from the end of the load to the last shed probe (R10: <= 5 s);
and how late the generator sent (``send_lag``): a late generator offers less than it says.
Results go to ``bench/results/overload-<time>.json``; the summary table is printed last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
from served import Served, run_saved

SERVER_CPUS = os.environ.get("SERVER_CPUS", "1")
LOAD_CPUS = os.environ.get("LOAD_CPUS", "0")
MODEL = "heavy"
#: Each phase's length or rate: the option and its default.
PHASE_OPTIONS = {"capacity-s": 5.0, "unloaded-rps": 20.0, "unloaded-s": 10.0, "overload-s": 10.0,
                 "probe-rps": 50.0, "probe-s": 10.0}  # fmt: skip
#: One request's record: scheduled time (s from the phase's start), send lag (s), latency (s),
#: HTTP status (0: the connection failed) and Retry-After (None when absent; with status 0, the
#: client's error).
Record = tuple[float, float, float, int, str | None]


def make_model(path: Path, width: int, layers: int) -> None:
    """An ONNX graph of ``layers`` x (MatMul by one shared width x width weight, Tanh)."""
    from onnx import TensorProto, helper, numpy_helper, save

    weight = np.random.default_rng(0).standard_normal((width, width)) / np.sqrt(width)
    nodes, previous = [], "input"
    for i in range(layers):
        out = "output" if i == layers - 1 else f"t{i}"
        nodes.append(helper.make_node("MatMul", [previous, "w"], [f"m{i}"]))
        nodes.append(helper.make_node("Tanh", [f"m{i}"], [out]))
        previous = out
    graph = helper.make_graph(
        nodes, MODEL,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", width])],
        [numpy_helper.from_array(weight.astype(np.float32), "w")],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    save(model, str(path))


# -- the load (a child process on its own core) --------------------------------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection that sends the prepared request and reads the answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def call(self, request: bytes) -> tuple[int, str | None]:
        self.writer.write(request)
        lines = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        fields = (line.partition(":") for line in lines[1:] if line)
        headers = {name.strip().lower(): value.strip() for name, _, value in fields}
        await self.reader.readexactly(int(headers.get("content-length", "0")))
        return int(lines[0].split(" ", 2)[1]), headers.get("retry-after")


class Load:
    def __init__(self, port: int, request: bytes) -> None:
        self.port, self.request = port, request
        self.idle: list[Connection] = []

    async def connection(self) -> Connection:
        """An idle connection, else a new one. The server closes a connection idle for
        ``limits.header_timeout_s`` (10 s): one it closed is dropped, not reused (with a queue-wait
        limit most requests are refused at once, so most connections idle that long)."""
        while self.idle:
            conn = self.idle.pop()
            if not conn.reader.at_eof():
                return conn
            conn.writer.close()
        return Connection(*await asyncio.open_connection("127.0.0.1", self.port))

    async def one(self, scheduled: float, start: float, records: list[Record]) -> None:
        try:
            conn = await self.connection()
            sent = time.monotonic()
            status, retry_after = await conn.call(self.request)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            records.append((scheduled - start, 0.0, 0.0, 0, type(exc).__name__))
            return
        records.append((scheduled - start, sent - scheduled, time.monotonic() - sent, status,
                        retry_after))  # fmt: skip
        self.idle.append(conn)

    async def warm(self, conns: int) -> None:
        self.idle.extend(await asyncio.gather(*(self.connection() for _ in range(conns))))

    async def open_loop(
        self, rps: float, seconds: float, start: float, offset: float = 0.0
    ) -> list[Record]:
        """Send at ``rps`` on schedule for ``seconds`` from ``start + offset``, each record's
        time counted from ``start``; return once every answer is in."""
        records: list[Record] = []
        tasks: set[asyncio.Task[None]] = set()
        for i in range(int(rps * seconds)):
            scheduled = start + offset + i / rps
            delay = scheduled - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(self.one(scheduled, start, records))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
        return records

    async def closed_loop(self, clients: int, seconds: float) -> list[Record]:
        records: list[Record] = []
        start = time.monotonic()
        until = start + seconds

        async def client() -> None:
            while time.monotonic() < until:
                await self.one(time.monotonic(), start, records)

        await asyncio.gather(*(client() for _ in range(clients)))
        return records


async def load_main(args: argparse.Namespace) -> dict[str, Any]:
    load = Load(args.port, Path(args.request_file).read_bytes())
    await load.warm(args.conns)
    if args.phase == "capacity":
        await load.closed_loop(args.clients, 1.0)  # warm-up, discarded
        return {"records": await load.closed_loop(args.clients, args.seconds)}
    if args.phase == "unloaded":
        return {"records": await load.open_loop(args.rps, args.seconds, time.monotonic())}
    # The probes start the moment the overload stops sending, not once its answers are in: the
    # requests it left queued are part of what the probes must get past.
    start = time.monotonic()
    records, probes = await asyncio.gather(
        load.open_loop(args.rps, args.seconds, start),
        load.open_loop(args.probe_rps, args.probe_s, start, offset=args.seconds),
    )
    return {"records": records, "probes": probes, "load_end_s": args.seconds}


def load_process(
    port: int, request_file: Path, phase: str, **options: float
) -> subprocess.Popen[bytes]:
    """This script as the load of one phase, pinned to $LOAD_CPUS where taskset exists; its
    records go to ``request_file`` + ``.PHASE.json`` (a pipe would fill while nobody reads)."""
    command = [sys.executable, __file__, "--load", phase, "--port", str(port),
               "--request-file", str(request_file)]  # fmt: skip
    for key, value in options.items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    if LOAD_CPUS and shutil.which("taskset"):
        command = ["taskset", "-c", LOAD_CPUS, *command]
    return subprocess.Popen(command)


def load_result(child: subprocess.Popen[bytes], request_file: Path, phase: str) -> dict[str, Any]:
    if child.wait():
        raise SystemExit(f"the {phase} load process failed with exit status {child.returncode}")
    result: dict[str, Any] = json.loads(request_file.with_suffix(f".{phase}.json").read_text())
    return result


# -- the measuring side --------------------------------------------------------------------------


def thread_cpu(pid: int) -> tuple[float, float]:
    """CPU seconds (user + system) of ``pid``'s main thread, which runs the event loop, and of
    all its other threads together (the model's worker among them)."""
    ticks = [0, 0]
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # a thread that ended since the listing (ESRCH or ENOENT)
            continue
        ticks[task.name != str(pid)] += int(fields[11]) + int(fields[12])
    return ticks[0] / os.sysconf("SC_CLK_TCK"), ticks[1] / os.sysconf("SC_CLK_TCK")


def ms(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return round(float(np.quantile(np.array(values), q)) * 1000, 2)


def latency_summary(records: list[Record]) -> dict[str, Any]:
    ok = [r[2] for r in records if r[3] == 200]
    shed = [r for r in records if r[3] in (429, 503)]
    lags = [r[1] for r in records]
    return {
        "requests": len(records),
        "statuses": dict(Counter(str(r[3]) for r in records)),
        "client_errors": dict(Counter(str(r[4]) for r in records if r[3] == 0)),
        "ok_p50_ms": ms(ok, 0.5), "ok_p99_ms": ms(ok, 0.99), "ok_max_ms": ms(ok, 1.0),
        "ok_mean_ms": round(float(np.mean(ok)) * 1000, 2) if ok else None,
        "shed_p50_ms": ms([r[2] for r in shed], 0.5), "shed_p99_ms": ms([r[2] for r in shed], 0.99),
        "shed_max_ms": ms([r[2] for r in shed], 1.0),
        "shed_without_retry_after": sum(1 for r in shed if not r[4]),
        "retry_after_values": dict(Counter(str(r[4]) for r in shed)),
        "send_lag_p99_ms": ms(lags, 0.99), "send_lag_max_ms": ms(lags, 1.0),
    }  # fmt: skip


def cpu_used(samples: list[list[float]], since: float, until: float) -> dict[str, float]:
    """The server's CPU seconds between two times of a phase (from :meth:`Bench.load`'s
    samples): the event loop's thread and the others (the model's worker)."""
    during = [sample for sample in samples if since <= sample[0] <= until]
    first, last = during[0], during[-1]
    return {"span_s": round(last[0] - first[0], 2), "loop_s": round(last[2] - first[2], 2),
            "other_threads_s": round(last[3] - first[3], 2)}  # fmt: skip


class Bench:
    def __init__(self, args: argparse.Namespace, home: Path) -> None:
        self.args, self.home = args, home
        env = {"INFERD_BATCHING__MAX_QUEUE_SIZE": str(args.queue),
               "INFERD_BATCHING__MAX_QUEUE_WAIT_MS": str(args.queue_wait_ms),
               "INFERD_BATCHING__MAX_BATCH_SIZE": str(args.batch)}  # fmt: skip
        self.server = Served(home, env, cpus=SERVER_CPUS)
        self.request_file = home / "request.http"

    def start(self) -> None:
        folder = self.home.parent / f"{self.home.name}-model"
        make_model(folder / "model.onnx", self.args.width, self.args.layers)
        self.server.push(folder, f"{MODEL}:v1")
        self.server.start([f"{MODEL}:v1"], self.home / "serve.log")
        width = self.args.width
        tensor = {"name": "input", "shape": [1, width], "datatype": "FP32", "data": [0.5] * width}
        body = json.dumps({"inputs": [tensor]})
        head = f"POST /v2/models/{MODEL}/infer HTTP/1.1\r\nHost: localhost\r\nContent-Length: "
        head += f"{len(body)}\r\nContent-Type: application/json\r\n\r\n"
        self.request_file.write_bytes(head.encode() + body.encode())

    def load(self, phase: str, **options: float) -> tuple[dict[str, Any], list[list[float]]]:
        """Run one phase's load; its result and, every 50 ms meanwhile, the server's RSS (MB) and
        CPU seconds (the event loop's thread, the others)."""
        assert self.server.proc is not None
        server = psutil.Process(self.server.proc.pid)
        child = load_process(self.server.port, self.request_file, phase, **options)
        started, samples, counts = time.monotonic(), [], [self.batch_counts()]
        while child.poll() is None:
            at = round(time.monotonic() - started, 2)
            samples.append([at, server.memory_info().rss / 1e6, *thread_cpu(server.pid)])
            if len(counts) == 1 and at >= options["seconds"]:
                counts.append(self.batch_counts())  # the phase's load (not its probes) is over
            time.sleep(0.05)
        result = load_result(child, self.request_file, phase)
        before, after = counts[0], [*counts, self.batch_counts()][1]
        deltas = (b - a for a, b in zip(before, after, strict=True))
        rows, runs, answered, queue_ns, compute_ns = deltas
        result["mean_batch_rows"] = round(rows / max(1, runs), 1)
        # Where an answered request's time went, as the server counts it (Triton's statistics):
        # its wait in the batcher's queue, and its batch's compute on the model.
        result["server_queue_ms"] = round(queue_ns / max(1, answered) / 1e6, 2)
        result["server_compute_ms"] = round(compute_ns / max(1, answered) / 1e6, 2)
        return result, samples

    def batch_counts(self) -> tuple[int, int, int, int, int]:
        """The model's statistics so far: rows inferred, batches run, requests answered, and
        those requests' queue and compute nanoseconds."""
        stats = httpx.get(f"{self.server.base}/v2/models/{MODEL}/stats", timeout=10).json()
        model = stats["model_stats"][0]
        inference = model["inference_stats"]
        queue, compute = inference["queue"], inference["compute_infer"]
        return (int(model["inference_count"]), int(model["execution_count"]), int(queue["count"]),
                int(queue["ns"]), int(compute["ns"]))  # fmt: skip

    def run(self) -> dict[str, Any]:
        assert self.server.proc is not None
        args, server = self.args, psutil.Process(self.server.proc.pid)
        clients = args.capacity_clients
        closed, closed_samples = self.load("capacity", clients=clients, seconds=args.capacity_s,
                                           conns=clients)  # fmt: skip
        records: list[Record] = [tuple(r) for r in closed["records"]]
        capacity = sum(1 for r in records if r[3] == 200) / args.capacity_s
        quiet, _ = self.load("unloaded", rps=args.unloaded_rps, seconds=args.unloaded_s, conns=8)
        unloaded = latency_summary([tuple(r) for r in quiet["records"]])
        rss_before = server.memory_info().rss / 1e6
        offered = args.offered_rps or args.factor * capacity
        over, samples = self.load("overload", rps=offered, seconds=args.overload_s,
                                  probe_rps=args.probe_rps, probe_s=args.probe_s,
                                  conns=args.conns)  # fmt: skip
        peak = max([rss_before, *(sample[1] for sample in samples)])
        rss_after = server.memory_info().rss
        load: list[Record] = [tuple(r) for r in over["records"]]
        probes: list[Record] = [tuple(r) for r in over["probes"]]
        load_end = float(over["load_end_s"])
        shed_probes = [r[0] - load_end for r in probes if r[3] != 200]
        overload = latency_summary(load)
        ok_p99, base_p99 = overload["ok_p99_ms"], unloaded["ok_p99_ms"]
        return {
            "width": args.width, "layers": args.layers, "queue_limit": args.queue,
            "queue_wait_ms": args.queue_wait_ms, "max_batch_size": args.batch,
            "server_cpus": SERVER_CPUS, "load_cpus": LOAD_CPUS,
            "capacity_rps": round(capacity, 1),
            "capacity": latency_summary(records),
            "unloaded_rps": args.unloaded_rps, "unloaded": unloaded,
            "offered_rps": round(offered, 1), "overload_s": args.overload_s,
            "overload": overload,
            "overload_answered_rps": round(overload["statuses"].get("200", 0) / args.overload_s, 1),
            "accepted_p99_ratio": round(ok_p99 / base_p99, 2) if ok_p99 and base_p99 else None,
            "probe_rps": args.probe_rps, "probes": latency_summary(probes),
            "last_shed_probe_after_load_s": round(max(shed_probes), 3) if shed_probes else 0.0,
            "server_rss_mb": {"before": round(rss_before, 1), "peak": round(peak, 1),
                              "after": round(rss_after / 1e6, 1)},
            "rss_samples": [[sample[0], round(sample[1], 1)] for sample in samples],
            "capacity_mean_batch_rows": closed["mean_batch_rows"],
            "unloaded_server_ms": {"queue": quiet["server_queue_ms"],
                                   "compute": quiet["server_compute_ms"]},
            "overload_server_ms": {"queue": over["server_queue_ms"],
                                   "compute": over["server_compute_ms"]},
            "overload_mean_batch_rows": over["mean_batch_rows"],
            "capacity_server_cpu": cpu_used(closed_samples, 1.0, 1.0 + args.capacity_s),
            "overload_server_cpu": cpu_used(samples, 0.0, args.overload_s),
            "loadavg_1m_end": round(os.getloadavg()[0], 2),
        }  # fmt: skip


def table(result: dict[str, Any]) -> str:
    over, base, probes = result["overload"], result["unloaded"], result["probes"]
    rss, cpu = result["server_rss_mb"], result["overload_server_cpu"]
    quiet, loud = result["unloaded_server_ms"], result["overload_server_ms"]
    growth = rss["peak"] - rss["before"]
    shed_max = over["shed_max_ms"]
    rows = [
        ("settings", f"queue {result['queue_limit']}, queue wait "
         f"{result['queue_wait_ms'] or 'off'} ms, batch {result['max_batch_size']}", ""),
        ("capacity (closed loop)", f"{result['capacity_rps']} req/s", ""),
        ("offered / answered 200", f"{result['offered_rps']} / {result['overload_answered_rps']}"
         f" req/s; {over['statuses']} {over['client_errors'] or ''}", ""),
        ("send lag p99 / max", f"{over['send_lag_p99_ms']} / {over['send_lag_max_ms']} ms", ""),
        ("shed p50 / p99 / max", f"{over['shed_p50_ms']} / {over['shed_p99_ms']} / {shed_max} ms",
         "met" if shed_max is not None and shed_max <= 50 else "missed"),
        ("shed without Retry-After", f"{over['shed_without_retry_after']}",
         "met" if over["shed_without_retry_after"] == 0 else "missed"),
        ("accepted p99 / unloaded p99", f"{over['ok_p99_ms']} / {base['ok_p99_ms']} ms "
         f"({result['accepted_p99_ratio']}x)",
         "met" if (result["accepted_p99_ratio"] or 99) <= 2 else "missed"),
        ("server CPU during overload", f"loop {cpu['loop_s']} s, other threads "
         f"{cpu['other_threads_s']} s, in {cpu['span_s']} s", ""),
        ("mean batch: capacity / overload", f"{result['capacity_mean_batch_rows']} / "
         f"{result['overload_mean_batch_rows']} rows", ""),
        ("accepted mean: unloaded", f"{base['ok_mean_ms']} ms = queue {quiet['queue']} + "
         f"compute {quiet['compute']} + the rest (HTTP, decode, hand-offs)", ""),
        ("accepted mean: overload", f"{over['ok_mean_ms']} ms = queue {loud['queue']} + "
         f"compute {loud['compute']} + the rest", ""),
        ("RSS before / peak / after", f"{rss['before']} / {rss['peak']} / {rss['after']} MB",
         "met" if growth < 100 else "missed"),
        ("last shed probe after load", f"{result['last_shed_probe_after_load_s']} s; probes "
         f"{probes['statuses']}",
         "met" if result["last_shed_probe_after_load_s"] <= 5 else "missed"),
    ]  # fmt: skip
    return "\n".join(f"{name:<30} {value:<60} {verdict}" for name, value, verdict in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--layers", type=int, default=512)
    parser.add_argument("--queue", type=int, default=64, help="batching.max_queue_size")
    parser.add_argument("--queue-wait-ms", type=float, default=0.0,
                        help="batching.max_queue_wait_ms (0: no limit)")  # fmt: skip
    parser.add_argument("--batch", type=int, default=32, help="batching.max_batch_size")
    parser.add_argument("--factor", type=float, default=5.0, help="offered load / capacity")
    parser.add_argument("--offered-rps", type=float, default=0.0,
                        help="offer this rate instead of --factor x the measured capacity (an "
                        "A/B's runs then offer the same)")  # fmt: skip
    parser.add_argument("--capacity-clients", type=int, default=32)
    for name, default in PHASE_OPTIONS.items():
        parser.add_argument(f"--{name}", type=float, default=default)
    parser.add_argument("--conns", type=int, default=512, help="connections opened up front")
    # The load child's own options (it is this script, run by load_process):
    for name, kind in [("load", str), ("request-file", str), ("port", int), ("clients", int),
                       ("rps", float), ("seconds", float)]:  # fmt: skip
        parser.add_argument(f"--{name}", type=kind, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        args.phase = args.load
        result = asyncio.run(load_main(args))
        Path(args.request_file).with_suffix(f".{args.phase}.json").write_text(json.dumps(result))
        return
    with tempfile.TemporaryDirectory(prefix="inferd-overload-") as tmp:
        result, path = run_saved("overload", Bench(args, Path(tmp) / "home"))
    print(table(result))
    print(f"results: {path}")


if __name__ == "__main__":
    main()
