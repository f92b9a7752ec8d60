"""The gRPC control listener started by ``inferd serve``: repository RPCs behind the token."""

from __future__ import annotations

import pytest
import tritonclient.grpc as triton_grpc

from inferd.observe.audit import read_audit

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


def test_grpc_loads_and_refusals_are_audited(served, store_home):
    """The gRPC control plane's loads and refused calls reach the same audit log as REST's."""
    token = (store_home / f"server-{served.control_port}.token").read_text().strip()
    auth = {"authorization": f"Bearer {token}", "x-inferd-user": "bob"}
    client = triton_grpc.InferenceServerClient(f"127.0.0.1:{served.control_grpc_port}")
    try:
        client.load_model("fraud", headers=auth)
        with pytest.raises(triton_grpc.InferenceServerException):
            client.load_model("fraud")
        with pytest.raises(triton_grpc.InferenceServerException):
            client.load_model("nosuch", headers=auth)
    finally:
        client.close()
    records = [r for r in read_audit(store_home / "audit.log") if r.caller.peer.startswith("ipv")]
    assert [(r.action, r.target, r.outcome, r.status) for r in records[-3:]] == [
        ("load", "fraud", "ok", "OK"),
        ("rpc", "", "denied", "UNAUTHENTICATED"),
        ("load", "nosuch", "error", "NOT_FOUND"),
    ]
    assert records[-3].caller.user == "bob"
