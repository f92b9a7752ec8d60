"""Replicas start while gRPC is busy in ``inferd up``'s own process (its gateway proxies gRPC
calls to replicas on the same event loop).

gRPC's core runs threads of its own and registers fork handlers: a child made by ``fork()``
while those threads are busy can crash before it reaches ``exec`` (SIGSEGV, or SIGABRT on
"Check failed: next_worker->state == KICKED"), and the replica counts a restart — an apply
waiting for it could even give up on it. Replicas are started without running Python or fork
handlers between fork and exec, so none dies there — and a replica still gets SIGTERM from the
kernel when ``inferd up`` dies without stopping it (SIGKILL), so none outlives it.
"""

from __future__ import annotations

import asyncio
import pickle
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import psutil
import pytest
import uvloop

from inferd.control.replicas.engines import EngineLaunch, EngineModel
from inferd.control.replicas.launch import ReplicaLaunch
from inferd.control.replicas.replica import ReplicaProcess
from inferd.spec.llm import LlmSpec

pytestmark = pytest.mark.slow

#: Enough starts that, with fork handlers run under load, one crashing is all but certain.
STARTS = 40


def _sleeper(tmp_path: Path) -> ReplicaLaunch:
    """A replica whose "engine" is a shell script that sleeps (it never becomes ready)."""
    script = tmp_path / "engine.sh"
    script.write_text("#!/bin/sh\nexec sleep 60\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "logs").mkdir()
    engine = EngineLaunch(
        engine="llama-server",
        executable=str(script),
        model=EngineModel(tmp_path / "none.gguf", "none"),
        llm=LlmSpec(engine="llama-server"),
    )
    return ReplicaLaunch(
        deployment="chat", version="v1", model="none", reference="none:v1",
        pinned="none:v1@sha256:" + "0" * 64, config=None, log_dir=tmp_path / "logs",
        home=tmp_path, engine=engine,
    )  # fmt: skip


def _execed(pid: int) -> bool:
    """Whether process ``pid`` runs ``sleep`` now (it got through fork and every exec)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"sleep\0")
    except OSError:
        return False


async def _busy_grpc(stop: asyncio.Event) -> None:
    """gRPC calls in flight on this loop until ``stop``, as a gateway proxying them."""

    async def echo(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        return request

    server = grpc.aio.server()
    handler = grpc.unary_unary_rpc_method_handler(echo)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("t.T", {"E": handler}),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary("/t.T/E")

        async def hammer() -> None:
            while not stop.is_set():
                await call(b"x")

        await asyncio.gather(*(hammer() for _ in range(8)))
    await server.stop(None)


def test_replicas_started_while_grpc_is_busy_do_not_crash_before_they_run(
    tmp_path: Path,
) -> None:
    launch = _sleeper(tmp_path)

    async def main() -> list[str]:
        stop = asyncio.Event()
        grpc_load = asyncio.ensure_future(_busy_grpc(stop))
        crashed: list[str] = []
        try:
            for n in range(STARTS):
                replica = ReplicaProcess(f"chat-v1-{n}", launch, lambda: None)
                replica.start()
                try:
                    for _ in range(1000):  # until it runs sleep, or died on the way
                        if replica.restarts or (replica.pid and _execed(replica.pid)):
                            break
                        await asyncio.sleep(0.01)
                    if replica.restarts:
                        crashed.append(f"{replica.id}: {replica.reason}")
                    elif not (replica.pid and _execed(replica.pid)):
                        crashed.append(f"{replica.id}: never ran")
                finally:
                    await replica.stop(1.0)
        finally:
            stop.set()
            await grpc_load
        return crashed

    assert uvloop.run(main()) == []  # as inferd up runs


#: ``inferd up`` in short: a process supervising one replica of ``launch`` (a pickled
#: :class:`ReplicaLaunch`, in the file given), printing the replica's pid.
PARENT = """
import asyncio, pickle, sys
from inferd.control.replicas.replica import ReplicaProcess

async def main():
    with open(sys.argv[1], "rb") as file:
        launch = pickle.load(file)
    replica = ReplicaProcess("chat-v1-1", launch, lambda: None)
    replica.start()
    while not replica.pid:
        await asyncio.sleep(0.01)
    print(replica.pid, flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def _until(condition: Callable[[], bool]) -> bool:
    for _ in range(3000):
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_replica_gets_sigterm_when_its_supervisor_is_killed(tmp_path: Path) -> None:
    launch = tmp_path / "launch.pickle"
    launch.write_bytes(pickle.dumps(_sleeper(tmp_path)))
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(launch)], stdout=subprocess.PIPE)
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        assert _until(lambda: _execed(pid)), "the replica never ran"
        parent.kill()  # SIGKILL: no drain, no stop
        parent.wait(30)
        assert _until(lambda: _gone(pid)), "the replica outlived its supervisor"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
