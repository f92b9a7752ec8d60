"""Answers compressed at the gateway, once, for a client that asks (``Accept-Encoding``, as
Envoy's compressor does): its replicas are not sent the header, so they answer identity,
which the shadow comparison, payload logging and the metadata rewrite read; and tritonclient's
``response_compression_algorithm`` reads the same tensors through the gateway as without it."""

from __future__ import annotations

import gzip
import zlib

import numpy as np
import pytest
import tritonclient.http as triton
import tritonclient.http.aio as triton_aio

from inferd.control.replicas.topology import Replica, VersionRoute

from .conftest import (
    RawClient,
    ReplicaProcess,
    deployment,
    recording_replica,
    run,
    started_gateway,
    topology,
    version,
)

#: What the recording replica answers: JSON well over the size the gateway compresses from.
_ANSWER = b'{"outputs": [' + b",".join(b'{"n": %d}' % i for i in range(400)) + b"]}"


@pytest.mark.parametrize(("accept", "coding"), [("gzip", "gzip"), ("deflate", "deflate")])
def test_the_gateway_compresses_once_and_its_replica_answers_identity(
    accept: str, coding: str
) -> None:
    heads: list[str] = []

    async def scenario() -> tuple[int, dict[str, str], bytes]:
        rest = await recording_replica(heads, _ANSWER)
        port = rest.sockets[0].getsockname()[1]
        replica = Replica("v1-0", "fraud", "v1", "127.0.0.1", port, "ready")
        topo = topology(
            deployment("fraud", VersionRoute("v1", "fraud", "fraud:v1", 100, (replica,)))
        )
        gateway = await started_gateway(topo)
        client = RawClient(f"http://127.0.0.1:{gateway.port}")
        try:
            return await client.request(
                "POST", "/v2/models/fraud/infer", b"{}", {"accept-encoding": accept}
            )
        finally:
            await client.close()
            await gateway.stop(1)
            rest.close()
            await rest.wait_closed()

    status, headers, body = run(scenario)
    assert status == 200
    assert headers["content-encoding"] == coding
    assert headers["vary"] == "accept-encoding"
    inflate = gzip.decompress if coding == "gzip" else zlib.decompress
    assert inflate(body) == _ANSWER  # compressed once: inflated once, it is the replica's
    assert heads and "accept-encoding" not in heads[0]


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_tritonclient_reads_compressed_answers_through_the_gateway(
    replicas: dict[str, list[ReplicaProcess]], binary: bool
) -> None:
    topo = topology(
        deployment(
            "echo",
            version("v1", 100, *replicas["echo"], model="echo", deployment="echo"),
            version("v2", 0, *replicas["echo"], model="echo", deployment="echo"),
            shadow="v2",
        )
    )
    rows = np.random.default_rng(5).standard_normal((64, 4)).astype(np.float32)

    async def scenario() -> list[np.ndarray]:
        gateway = await started_gateway(topo)
        client = triton_aio.InferenceServerClient(f"127.0.0.1:{gateway.port}")
        try:
            got = []
            for compression in (None, "gzip", "deflate"):
                x = triton.InferInput("x", list(rows.shape), "FP32")
                x.set_data_from_numpy(rows, binary_data=binary)
                out = triton.InferRequestedOutput("y", binary_data=binary)
                answer = await client.infer(
                    "echo", [x], outputs=[out], response_compression_algorithm=compression
                )
                got.append(answer.as_numpy("y"))
            return got
        finally:
            await client.close()
            await gateway.stop(1)

    for answer in run(scenario):
        np.testing.assert_array_equal(answer, rows)
