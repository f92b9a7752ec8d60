"""What a load that fails leaves behind: a known version stays visible as FAILED with its
reason; a reference the store does not hold leaves no index row and no metrics series."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from inferd.errors import InferdError, NotFound, PermissionDenied
from inferd.observe.metrics import ServerMetrics
from inferd.serving.dataplane import ServingDataPlane
from inferd.serving.stats import VersionState
from inferd.store import ModelStore
from inferd.store.remote import RegistrySettings, RemoteRegistries

from .conftest import Harness, SandboxedCodeRuntime, request


def _versions(plane: ServingDataPlane) -> dict[tuple[str, str], VersionState]:
    return {(r.name, r.version): r.state for r in plane.repository_index()}


def _series_of(metrics: ServerMetrics, version: str) -> list[str]:
    text = metrics.render().decode()
    return [line for line in text.splitlines() if f'version="{version}"' in line]


def test_loading_a_missing_version_adds_no_row_and_no_series(harness: Harness) -> None:
    harness.push("m:v1")

    async def main() -> None:
        plane, manager, metrics = harness.plane()
        await manager.serve(["m:v1"])
        try:
            with pytest.raises(NotFound):
                await plane.load("m", "m:nosuch")
            assert _versions(plane) == {("m", "v1"): VersionState.READY}
            assert _series_of(metrics, "nosuch") == []
            assert (await plane.infer(request())).model_version == "v1"
            assert plane.ready()
        finally:
            await plane.close()

    asyncio.run(main())


def test_loading_a_missing_model_leaves_no_trace(harness: Harness) -> None:
    harness.push("m:v1")

    async def main() -> None:
        plane, manager, metrics = harness.plane()
        await manager.serve(["m:v1"])
        try:
            with pytest.raises(NotFound):
                await plane.load("other", "other:v1")
            assert not manager.knows("other")
            assert [r.name for r in plane.repository_index()] == ["m"]
            assert 'model="other"' not in metrics.render().decode()
            assert plane.ready()  # a typo on the control plane does not take readiness away
        finally:
            await plane.close()

    asyncio.run(main())


def test_a_load_from_a_registry_off_the_allowlist_leaves_no_trace(harness: Harness) -> None:
    """Refused before any connection, as a reference not found is: no row for a new name, and
    no FAILED mark on the local version that shares the refused reference's name and tag."""
    harness.push("m:v1")
    remote = RemoteRegistries(RegistrySettings().server_side())
    harness.store = ModelStore(harness.store.root, remote)

    async def main() -> None:
        plane, manager, metrics = harness.plane()
        await manager.serve(["m:v1"])
        try:
            for name, reference in [("other", "127.0.0.1:5000/other:v1"),
                                    ("m", "127.0.0.1:5000/m:v1")]:  # fmt: skip
                with pytest.raises(PermissionDenied, match="allowlist"):
                    await plane.load(name, reference)
            assert not manager.knows("other")
            assert _versions(plane) == {("m", "v1"): VersionState.READY}
            assert 'model="other"' not in metrics.render().decode()
            assert plane.ready()
            assert (await plane.infer(request())).model_version == "v1"
        finally:
            await plane.close()

    asyncio.run(main())


def test_a_failed_version_stays_visible_after_later_loads(harness: Harness) -> None:
    harness.push("m:v1")
    harness.push_corrupt("m:v2")
    harness.push("m:v3", factor=3.0)

    async def main() -> None:
        plane, manager, metrics = harness.plane()
        await manager.serve(["m:v1"])
        try:
            with pytest.raises(InferdError) as failed:
                await plane.load("m", "m:v2")
            with pytest.raises(NotFound):
                await plane.load("m", "m:nosuch")
            await plane.load("m", "m:v3")
            assert await plane.drain(5.0)
            rows = {r.version: r for r in plane.repository_index()}
            assert set(rows) == {"v2", "v3"}
            assert rows["v2"].state is VersionState.FAILED
            assert rows["v2"].reason == failed.value.message
            assert rows["v3"].state is VersionState.READY
            failed_state = {"model": "m", "version": "v2", "state": "FAILED"}
            assert metrics.registry.get_sample_value("inferd_model_state", failed_state) == 1
        finally:
            await plane.close()

    asyncio.run(main())


def test_a_failed_reload_shows_on_the_version_it_left_serving(harness: Harness) -> None:
    harness.push("m:v1")
    harness.store.tag("m:v1", "m:prod")
    harness.push_corrupt("m:v2")

    async def main() -> None:
        plane, manager, _ = harness.plane()
        await manager.serve(["m:prod"])
        try:
            harness.store.tag("m:v2", "m:prod")
            with pytest.raises(InferdError):
                await plane.load("m")
            [row] = plane.repository_index()
            assert row.version == "prod" and row.state is VersionState.READY
            assert row.reason.startswith("reload FAILED: ")
            assert (await plane.infer(request())).model_version == "prod"
        finally:
            await plane.close()

    asyncio.run(main())


def test_a_sandboxed_model_whose_warm_up_kills_its_worker_fails_for_good(
    harness: Harness, tmp_path: Path
) -> None:
    """The worker's death in warm-up fails the load: the reason names the warm-up and the death,
    and the model is closed (nothing is "being restarted")."""
    harness.push("m:v1")
    crashing = SandboxedCodeRuntime(
        tmp_path / "crashing",
        "import os, signal\n"
        "class Model:\n"
        "    def load(self, path):\n"
        "        pass\n"
        "    def predict(self, inputs):\n"
        "        os.kill(os.getpid(), signal.SIGSEGV)\n",
    )

    async def main() -> None:
        plane, manager, _ = harness.plane()
        manager._loaders = dataclasses.replace(manager._loaders, runtime=lambda _: crashing)
        await manager.serve(["m:v1"])
        [row] = plane.repository_index()
        assert row.state is VersionState.FAILED
        assert "warm-up" in row.reason and "SIGSEGV" in row.reason, row.reason
        assert "restart" not in row.reason, row.reason
        await plane.close()

    asyncio.run(main())
    [model] = crashing.loaded
    assert model.pid is None  # closed: no worker is left running for the FAILED version
