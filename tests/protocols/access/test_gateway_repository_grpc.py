"""``inferd up``'s gateway serves no repository load or unload: over gRPC, as over REST, a key
that may use the model named is told UNIMPLEMENTED, naming ``inferd apply``, and one that may
not is refused for that model; a key scoped to the model was refused "covers every deployment",
as if the call named none."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import pytest
import tritonclient.grpc.aio as triton
from tritonclient.utils import InferenceServerException

from control.gateway.conftest import run, started_gateway, topology
from inferd.config import AuthSettings
from inferd.control.gateway.access import gateway_front_door, secure_grpc
from inferd.control.gateway.grpc_gateway import GrpcGateway
from inferd.protocols.access.keyfile import create_key
from inferd.protocols.grpc.servicer import SERVICE


@asynccontextmanager
async def _front(tmp_path: Path, keys_file: Path) -> AsyncIterator[int]:
    """A gateway with no deployment behind a gRPC front that checks ``keys_file``'s keys;
    yields its port."""
    door = gateway_front_door(
        AuthSettings(keys_file=keys_file), None, home=tmp_path, spec_dir=tmp_path
    )
    gateway = await started_gateway(topology())
    front = GrpcGateway(gateway, "127.0.0.1", 0)
    secure_grpc(front, door)
    await front.start()
    try:
        yield front.port
    finally:
        await front.stop(1)
        await gateway.stop(1)


async def _outcome(call: object) -> tuple[str, str]:
    try:
        await call  # type: ignore[misc]
    except InferenceServerException as exc:
        return str(exc.status()).removeprefix("StatusCode."), exc.message() or ""
    return "OK", ""


@pytest.mark.parametrize("action", ["load_model", "unload_model"])
def test_a_scoped_key_is_pointed_at_inferd_apply(tmp_path: Path, action: str) -> None:
    keys_file = tmp_path / "keys.json"
    fraud = str(create_key(keys_file, "fraud-only", deployments=["fraud"])[1])
    reader = str(create_key(keys_file, "reader", scopes=["read"])[1])

    async def scenario() -> list[tuple[str, str]]:
        async with _front(tmp_path, keys_file) as port:
            client = triton.InferenceServerClient(f"127.0.0.1:{port}")
            try:
                call = getattr(client, action)
                return [
                    await _outcome(call("fraud", headers={"authorization": f"Bearer {fraud}"})),
                    await _outcome(call("churn", headers={"authorization": f"Bearer {fraud}"})),
                    await _outcome(call("fraud", headers={"authorization": f"Bearer {reader}"})),
                    await _outcome(call("fraud")),
                ]
            finally:
                await client.close()

    mine, other, unscoped, keyless = run(scenario)
    assert mine[0] == "UNIMPLEMENTED" and "inferd apply" in mine[1], mine
    assert other[0] == "PERMISSION_DENIED" and "may not use 'churn'" in other[1], other
    assert unscoped[0] == "PERMISSION_DENIED" and "'infer' scope" in unscoped[1], unscoped
    assert keyless[0] == "UNAUTHENTICATED", keyless


def test_a_scoped_key_is_told_streaming_is_not_served(tmp_path: Path) -> None:
    """ModelStreamInfer is served nowhere: a key scoped to some deployments learns that, as an
    unscoped one does, instead of PERMISSION_DENIED "covers every deployment"."""
    keys_file = tmp_path / "keys.json"
    fraud = str(create_key(keys_file, "fraud-only", deployments=["fraud"])[1])

    async def scenario() -> list[tuple[str, str]]:
        outcomes = []
        async with (
            _front(tmp_path, keys_file) as port,
            grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
        ):
            for metadata in ((("authorization", f"Bearer {fraud}"),), ()):
                call = channel.stream_stream(f"/{SERVICE}/ModelStreamInfer")(
                    iter(()), metadata=metadata, timeout=10
                )
                try:
                    async for _ in call:
                        pass
                except grpc.aio.AioRpcError as exc:
                    outcomes.append((exc.code().name, exc.details() or ""))
        return outcomes

    scoped, keyless = run(scenario)
    assert scoped[0] == "UNIMPLEMENTED" and "use ModelInfer" in scoped[1], scoped
    assert keyless[0] == "UNAUTHENTICATED", keyless
