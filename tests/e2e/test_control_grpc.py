"""The gRPC control listener started by ``inferd serve``: repository RPCs behind the token."""

from __future__ import annotations

import pytest
import tritonclient.grpc as triton_grpc

pytestmark = pytest.mark.slow


def test_repository_index_over_grpc_needs_the_token(served, store_home):
    assert served.control_grpc_port is not None
    token = (store_home / f"server-{served.control_port}.token").read_text().strip()
    client = triton_grpc.InferenceServerClient(f"127.0.0.1:{served.control_grpc_port}")
    try:
        index = client.get_model_repository_index(
            headers={"authorization": f"Bearer {token}"}, as_json=True
        )
        assert {m["name"] for m in index["models"]} >= {"fraud", "id-fp32"}
        with pytest.raises(triton_grpc.InferenceServerException):
            client.get_model_repository_index()
    finally:
        client.close()
