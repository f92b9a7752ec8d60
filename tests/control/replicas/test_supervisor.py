"""The supervisor and reconciler with real ``inferd serve`` replicas on loopback, watched
through the topologies they publish (the gateway's view), without a gateway in between."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from inferd.config import StoreSettings
from inferd.control.apply_plan import RouteChange
from inferd.control.reconciler import Reconciler
from inferd.control.replicas import replica as replica_module
from inferd.control.replicas.supervisor import Supervisor
from inferd.control.replicas.topology import Topology
from inferd.errors import NotFound, Unavailable
from inferd.packaging import push
from inferd.spec.loading import parse_spec
from inferd.store import ModelStore

from ..conftest import FRAUD_BODY, fraud_store, spec_text
from ..rollout import models

pytestmark = pytest.mark.slow


class Watch:
    """Records every published topology."""

    def __init__(self) -> None:
        self.seen: list[Topology] = []

    def __call__(self, topology: Topology) -> None:
        self.seen.append(topology)

    @property
    def last(self) -> Topology:
        return self.seen[-1]

    def weights(self) -> dict[str, float]:
        return {v.name: v.weight for v in self.last.deployments["fraud"].versions}

    def replicas(self, version: str) -> list[tuple[str, int | None, str]]:
        route = self.last.deployments["fraud"].version(version)
        assert route is not None
        return [(r.id, r.pid, r.state) for r in route.replicas]


def _run(home: Path, body: Callable[[Reconciler, Watch], Awaitable[None]]) -> None:
    async def main() -> None:
        supervisor = Supervisor()
        watch = Watch()
        supervisor.subscribe(watch)
        reconciler = Reconciler(
            supervisor, fraud_store(home), home / "up", settle_s=0.2, ready_timeout_s=60
        )
        try:
            await body(reconciler, watch)
        finally:
            await reconciler.shutdown(10)
        assert watch.last.deployments == {}

    asyncio.run(main())


async def _served_version(port: int) -> str:
    # A generous timeout: the machine is shared, and this checks what answers, not how fast.
    async with httpx.AsyncClient(timeout=15, trust_env=False) as client:
        response = await client.post(
            f"http://127.0.0.1:{port}/v2/models/fraud/infer", content=FRAUD_BODY
        )
    assert response.status_code == 200, response.content
    return str(response.json()["model_version"])


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A reaped child is gone; an unreaped zombie does not count as alive.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split()[2] != "Z"


def test_apply_runs_ready_replicas_and_changes_them_in_place(tmp_path: Path) -> None:
    pids_seen: list[int | None] = []

    async def body(reconciler: Reconciler, watch: Watch) -> None:
        first = parse_spec(spec_text({"v1": ("fraud:v1", 2, 90), "v2": ("fraud:v2", 1, 10)}))
        await reconciler.apply(first)
        assert watch.weights() == {"v1": 90, "v2": 10}
        v1, v2 = watch.replicas("v1"), watch.replicas("v2")
        assert [s for _, _, s in v1 + v2] == ["ready"] * 3
        # Each replica really serves its own version.
        for version in ("v1", "v2"):
            route = watch.last.deployments["fraud"].version(version)
            assert route is not None
            for replica in route.replicas:
                assert await _served_version(replica.port) == version
        pids_seen.extend(pid for _, pid, _ in v1 + v2)

        # Idempotent: the same spec again starts nothing and publishes nothing.
        generation = watch.last.generation
        applied = await reconciler.apply(first)
        assert {c.action for c in applied.changes} == {"keep"} and applied.routes == []
        assert watch.last.generation == generation

        # Weights only: new weights, the same processes, and the apply says so.
        applied = await reconciler.apply(
            parse_spec(spec_text({"v1": ("fraud:v1", 2, 50), "v2": ("fraud:v2", 1, 50)}))
        )
        assert {c.action for c in applied.changes} == {"keep"}
        assert applied.routes == [RouteChange("fraud", {"v1": 50, "v2": 50}, None, ("weights",))]
        assert watch.weights() == {"v1": 50, "v2": 50}
        assert watch.replicas("v1") == v1 and watch.replicas("v2") == v2

        # Scale v1 down, replace v2's model, add v3: the oldest v1 replica stays.
        await reconciler.apply(
            parse_spec(
                spec_text({"v1": ("fraud:v1", 1, 80), "v2": ("fraud:v1", 1, 10),
                           "v3": ("fraud:v2", 1, 10)})
            )
        )  # fmt: skip
        assert watch.weights() == {"v1": 80, "v2": 10, "v3": 10}
        assert watch.replicas("v1") == v1[:1]
        new_v2 = watch.replicas("v2")
        assert new_v2[0][1] != v2[0][1] and new_v2[0][2] == "ready"
        assert not _alive(v1[1][1]) and not _alive(v2[0][1])

        # Remove v2: it leaves the topology and its replica stops.
        await reconciler.apply(
            parse_spec(spec_text({"v1": ("fraud:v1", 1, 80), "v3": ("fraud:v2", 1, 20)}))
        )
        assert watch.weights() == {"v1": 80, "v3": 20}
        assert not _alive(new_v2[0][1])
        pids_seen.extend(pid for _, pid, _ in watch.replicas("v1") + watch.replicas("v3"))

    _run(tmp_path / "home", body)
    assert not any(_alive(pid) for pid in pids_seen)


def test_a_killed_replica_is_restarted_within_ten_seconds(tmp_path: Path) -> None:
    async def body(reconciler: Reconciler, watch: Watch) -> None:
        await reconciler.apply(parse_spec(spec_text({"v1": ("fraud:v1", 2, 100)})))
        (victim, pid, _), (other, other_pid, _) = watch.replicas("v1")
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        killed_at = time.monotonic()
        while True:
            await asyncio.sleep(0.05)
            states = {rid: (p, s) for rid, p, s in watch.replicas("v1")}
            if states[victim][1] == "ready" and states[victim][0] not in (None, pid):
                break
            assert time.monotonic() - killed_at < 10, states
        route = watch.last.deployments["fraud"].version("v1")
        assert route is not None
        replicas = {r.id: r for r in route.replicas}
        assert replicas[victim].restarts == 1
        assert replicas[other].restarts == 0 and replicas[other].pid == other_pid
        # The failure was published (the gateway stops routing to it at once).
        states_seen = [
            r.state for t in watch.seen for d in t.deployments.values() for v in d.versions
            for r in v.replicas if r.id == victim
        ]  # fmt: skip
        assert "failed" in states_seen
        assert await _served_version(replicas[victim].port) == "v1"

    _run(tmp_path / "home", body)


def test_a_failed_apply_leaves_what_runs_untouched(tmp_path: Path) -> None:
    async def body(reconciler: Reconciler, watch: Watch) -> None:
        await reconciler.apply(parse_spec(spec_text({"v1": ("fraud:v1", 1, 100)})))
        before = watch.last
        with pytest.raises(NotFound):
            await reconciler.apply(
                parse_spec(spec_text({"v1": ("fraud:v1", 1, 50), "v2": ("fraud:v9", 1, 50)}))
            )
        assert watch.last == before

    _run(tmp_path / "home", body)


def test_an_apply_of_a_model_that_cannot_load_fails_fast_with_its_load_error(
    tmp_path: Path,
) -> None:
    """The replica's own reason reaches the apply within seconds; what ran keeps running."""
    home = tmp_path / "home"

    async def body(reconciler: Reconciler, watch: Watch) -> None:
        await reconciler.apply(parse_spec(spec_text({"v1": ("fraud:v1", 1, 100)})))
        before = watch.last
        started = time.monotonic()
        with pytest.raises(Unavailable) as caught:
            await reconciler.apply(
                parse_spec(spec_text({"v1": ("fraud:v1", 1, 50), "v2": ("fraud:broken", 1, 50)}))
            )
        took = time.monotonic() - started
        assert "onnxruntime cannot load 'model.onnx'" in caught.value.message, caught.value
        assert "fraud-v2-1" in caught.value.message
        assert took < 15, took
        assert watch.last.deployments == before.deployments
        route = watch.last.deployments["fraud"].version("v1")
        assert route is not None
        assert await _served_version(route.replicas[0].port) == "v1"

    store = ModelStore.from_settings(StoreSettings(home=home))
    push(store, models.write(models.unloadable(), tmp_path / "broken"), "fraud:broken")
    _run(home, body)


def test_a_replica_whose_port_another_server_took_is_not_ready_by_its_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A port picked free can be bound by another process first. That server's 200 on
    /v2/health/ready must not make a replica that cannot load its model look ready."""
    home = tmp_path / "home"
    impostor = socket.create_server(("127.0.0.1", 0))
    taken = impostor.getsockname()[1]

    def answer_ready() -> None:
        while True:
            try:
                conn, _ = impostor.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")

    threading.Thread(target=answer_ready, daemon=True).start()
    picks = iter([taken])
    real = replica_module.free_port
    monkeypatch.setattr(replica_module, "free_port", lambda host: next(picks, None) or real(host))

    async def body(reconciler: Reconciler, watch: Watch) -> None:
        with pytest.raises(Unavailable) as caught:
            await reconciler.apply(parse_spec(spec_text({"v1": ("fraud:broken", 1, 100)})))
        assert "onnxruntime cannot load 'model.onnx'" in caught.value.message, caught.value

    store = ModelStore.from_settings(StoreSettings(home=home))
    push(store, models.write(models.unloadable(), tmp_path / "broken"), "fraud:broken")
    try:
        _run(home, body)
    finally:
        impostor.close()
