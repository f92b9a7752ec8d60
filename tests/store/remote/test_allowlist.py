"""Server-side fetches reach no registry unless allowlisted (or named when the server started).

``inferd serve``'s control plane (REST and gRPC) and ``inferd up``/``apply`` answer a reference
off the allowlist with 403/PERMISSION_DENIED, a blob over the cap with 413, and never connect.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import httpx
import pytest
from tritonclient.grpc import service_pb2

from inferd.config import ServerSettings, StoreSettings
from inferd.control.reconciler import Reconciler
from inferd.control.replicas.supervisor import Supervisor
from inferd.control.up import up_store
from inferd.errors import InvalidArgument, PermissionDenied
from inferd.packaging import push
from inferd.server import Server, build_server
from inferd.spec.loading import parse_spec
from inferd.spec.model import Spec
from inferd.store import ModelStore
from inferd.store.remote import RegistryPolicy, RegistrySettings, registries_of

from ..conftest import make_model_dir
from .fake import FakeRegistry, fake_registry
from .registry import Registry

TOKEN = "allowlist-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ENV = ("INFERD_ALLOWED_REGISTRIES", "INFERD_INSECURE_REGISTRIES", "INFERD_MAX_BLOB_BYTES")


@pytest.fixture
def canary() -> Iterator[FakeRegistry]:
    with fake_registry() as server:
        yield server
        assert server.hits == [], "a refused registry was contacted"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_settings_come_from_the_environment_and_the_start_references() -> None:
    env = {"INFERD_ALLOWED_REGISTRIES": "ghcr.io, Registry.Example.com:5000 ,"}
    settings = RegistrySettings.from_environ({**env, "INFERD_MAX_BLOB_BYTES": "4096"})
    assert settings.allowed == {"ghcr.io", "registry.example.com:5000"}
    assert settings.max_blob_bytes == 4096
    assert settings.policy is None  # the CLI's own pulls are not restricted
    named = registries_of(["fraud:v1", "127.0.0.1:5000/risk/fraud:v2", "ghcr.io/a/b@sha256:0"])
    assert named == ["127.0.0.1:5000", "ghcr.io"]
    server = settings.server_side(named)
    assert server.policy is not None
    assert server.policy.allowed == {"ghcr.io", "registry.example.com:5000", "127.0.0.1:5000"}
    assert RegistrySettings.from_environ({}).server_side().policy == RegistryPolicy.of([])
    for bad in ["-1", "0", "10G", " 5", "1_000", "\u0665"]:  # \u0665: an Arabic-Indic five
        with pytest.raises(InvalidArgument, match=f"INFERD_MAX_BLOB_BYTES={bad!r} is not a"):
            RegistrySettings.from_environ({"INFERD_MAX_BLOB_BYTES": bad})


def test_by_default_a_server_side_store_reaches_no_registry(
    canary: FakeRegistry, docker_config: Path, inferd_home: Path
) -> None:
    settings = RegistrySettings.from_environ({"INFERD_INSECURE_REGISTRIES": canary.host})
    store = ModelStore.from_settings(StoreSettings(home=inferd_home), settings.server_side())
    with pytest.raises(PermissionDenied) as info:
        store.fetch(f"{canary.host}/x:v9")
    assert info.value.message == (
        f"registry {canary.host!r} is not on the allowlist of this server "
        "(INFERD_ALLOWED_REGISTRIES, or registries.allow in the spec inferd up starts with)"
    )
    store.close()


@contextmanager
def _serving(home: Path) -> Iterator[Server]:
    """``inferd serve`` with no model, in process, its control plane on REST and gRPC."""
    settings = ServerSettings(
        port=0, grpc_port=None, control_port=0, control_grpc_port=0, control_token=TOKEN,
        store=StoreSettings(home=home),
    )  # fmt: skip
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = build_server(settings, [])
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(60)
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.shutdown(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def _load(server: Server, reference: str) -> httpx.Response:
    url = f"http://127.0.0.1:{server.control_port}/v2/repository/models/fraud/load"
    body = {"parameters": {"reference": reference}}
    return httpx.post(url, json=body, headers=AUTH, timeout=30)


def test_a_control_plane_load_off_the_allowlist_is_403_and_never_connects(
    canary: FakeRegistry, clean_env: pytest.MonkeyPatch, inferd_home: Path
) -> None:
    clean_env.setenv("INFERD_INSECURE_REGISTRIES", canary.host)
    with _serving(inferd_home) as server:
        answer = _load(server, f"{canary.host}/fraud:v9")
        assert answer.status_code == 403
        assert f"registry '{canary.host}' is not on the allowlist" in answer.text
        request = service_pb2.RepositoryModelLoadRequest(model_name="fraud")
        request.parameters["reference"].string_param = f"{canary.host}/fraud:v9"
        with grpc.insecure_channel(f"127.0.0.1:{server.control_grpc_port}") as channel:
            load = channel.unary_unary(
                "/inference.GRPCInferenceService/RepositoryModelLoad",
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=service_pb2.RepositoryModelLoadResponse.FromString,
            )
            with pytest.raises(grpc.RpcError) as info:
                load(request, metadata=(("authorization", f"Bearer {TOKEN}"),), timeout=30)
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "INFERD_ALLOWED_REGISTRIES" in (info.value.details() or "")


def test_an_allowlisted_registry_loads_but_a_blob_over_the_cap_is_413(
    open_registry: Registry, store: ModelStore, clean_env: pytest.MonkeyPatch,
    tmp_path: Path, inferd_home: Path,
) -> None:  # fmt: skip
    ref = f"{open_registry.host}/fraud:capped"
    push(store, make_model_dir(tmp_path / "model", weights=b"w" * 50_000), ref)
    clean_env.setenv("INFERD_ALLOWED_REGISTRIES", open_registry.host)
    clean_env.setenv("INFERD_INSECURE_REGISTRIES", open_registry.host)
    clean_env.setenv("INFERD_MAX_BLOB_BYTES", "10000")
    with _serving(tmp_path / "server-home") as server:
        answer = _load(server, ref)
    assert answer.status_code == 413, answer.text
    assert "more than the 10000 allowed (INFERD_MAX_BLOB_BYTES)" in answer.text


def test_up_and_apply_cannot_reach_a_registry_off_the_allowlist(
    canary: FakeRegistry, clean_env: pytest.MonkeyPatch, inferd_home: Path, tmp_path: Path
) -> None:
    clean_env.setenv("INFERD_INSECURE_REGISTRIES", canary.host)
    home = StoreSettings(home=inferd_home)
    # The registries of the spec up starts with are the operator's choice: admitted.
    named = up_store(home, _spec(f"{canary.host}/fraud:v1", allow=[]))
    assert named.remote is not None and named.remote.settings.policy is not None
    assert named.remote.settings.policy.allowed == {canary.host}
    started = _spec("fraud:v1", allow=["ghcr.io"])
    reconciler = Reconciler(Supervisor(), up_store(home, started), tmp_path)
    with pytest.raises(PermissionDenied, match="not on the allowlist"):
        asyncio.run(reconciler.apply(_spec(f"{canary.host}/fraud:v9", allow=["ghcr.io"])))
    # An apply cannot widen the allowlist up started with.
    reconciler.spec = started
    with pytest.raises(PermissionDenied, match="registries: is read once"):
        asyncio.run(reconciler.apply(_spec(f"{canary.host}/fraud:v9", allow=[canary.host])))
    reconciler.store.close()


def _spec(model: str, *, allow: list[str]) -> Spec:
    text = (
        "apiVersion: inferd.dev/v1\nkind: Stack\n"
        f"registries:\n  allow: [{', '.join(allow)}]\n"
        f"deployments:\n  - name: fraud\n    versions:\n      - name: v1\n        model: {model}\n"
    )
    return parse_spec(text)


def test_an_apply_may_reorder_the_allowlist() -> None:
    """The entries are a set: the same registries in another order were refused as a change."""
    from inferd.control.apply_plan import check_fixed

    running = _spec("fraud:v1", allow=["ghcr.io", "quay.io"])
    check_fixed(running, _spec("fraud:v1", allow=["quay.io", "ghcr.io"]))
    with pytest.raises(PermissionDenied, match="registries: is read once"):
        check_fixed(running, _spec("fraud:v1", allow=["quay.io"]))
