"""CPU per request of the Python request path alone: bytes in, bytes out, no sockets.

    .venv/bin/python bench/path_cpu.py gateway [--requests 20000] [--rounds 5] [--batch 32]
    .venv/bin/python bench/path_cpu.py replica --model tabular|mlp [...]
    PYTHONPATH=<other checkout>/src .venv/bin/python bench/path_cpu.py ...   # A/B two commits

wrk against a real server measures everything at once, and on a shared machine its CPU per
request moves by ±10 % from one run to the next: too much to see a change of 1 µs. Here the
server's own connections (:class:`~inferd.protocols.http.connection.HttpConnection`) are fed
the harness's request bytes through fake transports, ``--batch`` connections per turn of the
event loop (as wrk's connections arrive together under load), and the answers are counted as
they are written. What is left is the Python path and the model: parsing, routing, decoding,
batching, the model thread, encoding (and for the gateway: choosing a version and a replica,
writing the upstream request and parsing the replica's canned answer). The figure is the
process's CPU time per request (every thread), the best of ``--rounds``; it moves by about
±0.5 µs between runs. The sockets' system calls are not in it: the same request costs
``inferd serve`` 10-15 µs more under wrk (docs/benchmarks.md).

``gateway``: a gateway routing ``fraud`` to one replica whose keep-alive connections are fakes
answering a canned 200. ``replica``: ``inferd serve MODEL:v1`` from ``$INFERD_HOME`` (push the
shared harness's models first, as bench/serve_bench.py does), with its defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import gateway_bench  # the gateway bench's request (this folder is on sys.path)
import uvloop
from served import HARNESS

from inferd.protocols.http.connection import HttpConnection
from inferd.protocols.http.server import HttpServer

REPLICA_ANSWER = (
    b'{"model_name":"fraud","model_version":"v1","outputs":[{"name":"label","datatype":"INT64",'
    b'"shape":[1],"data":[0]},{"name":"probabilities","datatype":"FP32","shape":[1,2],'
    b'"data":[0.79953086,0.20046914]}]}'
)


def request(model: str, body: bytes) -> bytes:
    head = (
        f"POST /v2/models/{model}/infer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class FakeTransport:
    """What a connection calls on its transport; writes go to ``on_write``."""

    def __init__(self, on_write: Callable[[bytes], None]) -> None:
        self.on_write = on_write
        self.closing = False

    def write(self, data: bytes) -> None:
        self.on_write(data)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 5555) if name == "peername" else default

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 0

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        self.closing = True

    abort = close

    def can_write_eof(self) -> bool:
        return True


class Load:
    """``batch`` client connections to ``server``, each sent ``data`` once per turn."""

    def __init__(self, server: HttpServer, data: bytes, batch: int) -> None:
        self.server, self.data, self.batch = server, data, batch
        self.answered = 0
        #: Resolved once ``_target`` answers are written: waiting costs no CPU (a polling wait
        #: would spin on the loop's thread while the model's thread works, and be counted).
        self._target = 0
        self._turn: asyncio.Future[None] | None = None
        self.failed: list[bytes] = []
        self.clients = []
        for _ in range(batch):
            conn = HttpConnection(server)
            conn.connection_made(FakeTransport(self._answer))  # type: ignore[arg-type]
            self.clients.append(conn)

    def _answer(self, data: bytes) -> None:
        self.answered += 1
        if not data.startswith(b"HTTP/1.1 200"):
            self.failed.append(data[:300])
        if self.answered >= self._target and self._turn is not None and not self._turn.done():
            self._turn.set_result(None)

    async def run(self, count: int) -> None:
        buffer, n = self.server.read_buffer, len(self.data)
        loop = asyncio.get_running_loop()
        for _ in range(0, count, self.batch):
            self._target = self.answered + self.batch
            self._turn = loop.create_future()
            for conn in self.clients:
                buffer[:n] = self.data
                conn.buffer_updated(n)
            await self._turn

    async def measure(self, requests: int, rounds: int) -> float:
        """The best of ``rounds``: process CPU seconds per request, in µs."""
        await self.run(2000)  # warm: caches, the batcher's recent sizes, the router's cache
        best = float("inf")
        for _ in range(rounds):
            start = time.process_time()
            await self.run(requests)
            best = min(best, (time.process_time() - start) / requests * 1e6)
        if self.failed:
            raise SystemExit(f"not every answer was a 200: {self.failed[0]!r}")
        return best


async def gateway(args: argparse.Namespace) -> float:
    from inferd.config import LimitSettings
    from inferd.control.gateway import Gateway
    from inferd.control.gateway.upstream import ReplicaPool
    from inferd.control.replicas.topology import DeploymentRoute, Replica, Topology, VersionRoute

    gw = Gateway("127.0.0.1", 0, limits=LimitSettings())
    await gw.start()
    replica = Replica("v1-0", "fraud", "v1", "127.0.0.1", 1, "ready")
    version = VersionRoute("v1", "fraud", "fraud:v1", 100, (replica,))
    gw.update(Topology({"fraud": DeploymentRoute("fraud", (version,))}, 1))
    pool: ReplicaPool = gw.proxy.pool(replica)
    answer = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
    answer %= (len(REPLICA_ANSWER), REPLICA_ANSWER)
    loop = asyncio.get_running_loop()
    for _ in range(args.batch):  # idle keep-alive connections whose replica answers next turn
        conn = pool._connect()
        reply = partial(loop.call_soon, conn.data_received, answer)
        conn.connection_made(FakeTransport(lambda _, r=reply: r()))  # type: ignore[arg-type,misc]
        conn.reusable = True
        pool.release(conn)

    assert gw._http is not None
    load = Load(gw._http, request("fraud", json.dumps(gateway_bench.BODY).encode()), args.batch)
    try:
        return await load.measure(args.requests, args.rounds)
    finally:
        await gw.stop(1)


async def replica(args: argparse.Namespace) -> float:
    from inferd.config import ServerSettings, StoreSettings
    from inferd.server import build_server

    home = Path(os.environ.get("INFERD_HOME", "~/.inferd")).expanduser()
    settings = ServerSettings(
        port=0, grpc_port=None, control_port=None, control_grpc_port=None,
        store=StoreSettings(home=home),
    )  # fmt: skip
    server = build_server(settings, [f"{args.model}:v1"], control=False)
    await server.start()
    try:
        assert server.rest is not None
        body = (HARNESS / "bodies" / f"v2-{args.model}.json").read_bytes()
        load = Load(server.rest, request(args.model, body), args.batch)
        return await load.measure(args.requests, args.rounds)
    finally:
        await server.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("path", choices=("gateway", "replica"))
    ap.add_argument("--model", default="tabular", help="replica: the model (MODEL:v1)")
    ap.add_argument("--requests", type=int, default=20000, help="requests per round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch", type=int, default=32, help="connections sending per turn")
    args = ap.parse_args()
    # The gateway's dashboard sampler scrapes its replica, a fake here, and says so each time.
    logging.disable(logging.WARNING)
    run = gateway if args.path == "gateway" else replica
    us = uvloop.run(run(args))
    what = args.path if args.path == "gateway" else f"replica {args.model}"
    print(f"{what}: {us:.2f} µs CPU per request (batch {args.batch}, best of {args.rounds})")


if __name__ == "__main__":
    main()
