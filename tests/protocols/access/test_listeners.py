"""API keys and TLS on real listeners (REST and gRPC, in process, uvloop as in production):
refusals and their headers, no 500 for any Authorization value, and a certificate replaced
under an open keep-alive connection."""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Callable

import grpc
import orjson
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from inferd.protocols._generated import inference_pb2 as pb
from inferd.protocols.access.keyfile import create_key, revoke_key
from protocols.access.certs import install, peer_serial
from protocols.access.conftest import Door

ECHO = orjson.dumps({"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [1]}]})


def test_health_is_open_and_everything_else_wants_a_key(door: Door) -> None:
    assert door.get("/v2/health/live")[0] == 200
    assert door.get("/v2/health/ready")[0] == 200
    status, headers, body = door.get("/v2/models/echo/infer", method="POST", body=ECHO)
    assert status == 401
    assert headers["www-authenticate"] == ['Bearer realm="inferd"']
    assert "requires an API key" in orjson.loads(body)["error"]
    status, headers, _ = door.get("/metrics")
    assert status == 401  # a browser is offered Basic too
    assert headers["www-authenticate"] == [
        'Bearer realm="inferd"',
        'Basic realm="inferd", charset="UTF-8"',
    ]
    assert door.get("/v2")[0] == 401


def test_scopes_decide_between_200_and_403(door: Door) -> None:
    assert door.get("/v2/models/echo/infer", "echo", method="POST", body=ECHO)[0] == 200
    assert door.get("/v2/models/echo", "echo")[0] == 200
    status, _, body = door.get("/v2/models/sum", "echo")
    assert status == 403
    assert "may not use 'sum'" in orjson.loads(body)["error"]
    assert door.get("/v2/models/stats", "echo")[0] == 403  # lists every model
    assert door.get("/v2/models/stats", "all")[0] == 200
    assert door.get("/metrics", "all")[0] == 403
    assert door.get("/metrics", "read")[0] == 200
    assert door.get("/v2/models/echo/infer", "read", method="POST", body=ECHO)[0] == 403
    assert door.get("/v2", "read")[0] == 200


def test_a_read_key_limited_to_a_deployment_reads_no_other_deployments_series(
    door: Door,
) -> None:
    """/metrics (like the dashboard and /api/*) shows every deployment: a read key limited to
    one is refused there, as an infer key limited to one is refused the statistics of all (it
    read every other deployment's series)."""
    door.tokens["echo-read"] = create_key(
        door.keys_file, "echo-read", deployments=["echo"], scopes=["read"]
    )[1]
    status, _, body = door.get("/metrics", "echo-read")
    assert status == 403
    assert "limited to echo; this endpoint covers every deployment" in orjson.loads(body)["error"]
    assert door.get("/metrics", "read")[0] == 200  # a read key for every deployment


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/completions", "/v1/embeddings"])
def test_openai_routes_check_the_deployment_the_body_names(door: Door, path: str) -> None:
    """These routes name their model in the body: a key scoped to one deployment may use
    them for that deployment (it got 403 "covers every deployment" for every body)."""

    def post(key: str, body: object) -> tuple[int, str]:
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        status, _, answer = door.get(path, key, method="POST", body=raw)
        return status, answer.decode()

    chat = {"messages": [{"role": "user", "content": "hi"}], "prompt": "hi", "input": "hi"}
    status, answer = post("echo", {"model": "echo", **chat})
    assert status != 403, answer  # past the key check: the model's own answer
    status, answer = post("echo", {"model": "sum", **chat})
    assert (status, "may not use 'sum'" in answer) == (403, True)
    for unnamed in [b"{not json", b"[]", {"model": 5}, {"messages": []}]:
        # Refused before the handler (which would cover every deployment), naming the problem.
        status, answer = post("echo", unnamed)
        assert (status, "names no model" in answer, "may use echo" in answer) == (400, True, True)
    assert post("all", {"model": "sum", **chat})[0] != 403
    assert door.get(path, None, method="POST", body=b"{}")[0] == 401


def test_a_key_past_its_rate_gets_429_with_retry_after(door: Door) -> None:
    assert door.get("/v2/models/echo", "slow")[0] == 200
    status, headers, body = door.get("/v2/models/echo", "slow")
    assert status == 429
    assert headers["retry-after"] == ["1"]
    assert "limited to 1 requests/s" in orjson.loads(body)["error"]


def test_a_revoked_key_is_refused_at_once(door: Door) -> None:
    assert door.get("/v2/models/echo", "all")[0] == 200
    revoke_key(door.keys_file, "all")
    status, headers, _ = door.get("/v2/models/echo", "all")
    assert status == 401
    assert headers["www-authenticate"] == ['Bearer realm="inferd", error="invalid_token"']


BAD_AUTHORIZATION = [
    b"",
    b"Bearer",
    b"Bearer ",
    b"Basic",
    b"Basic =",
    b"Basic \xff\xfe",
    b"Bearer inferd_\xff\xff",
    b"Digest username=x",
    b"Bearer " + b"A" * 3000,
    b"Bearer inferd_000000000000_" + b"a" * 43,
    b"\x01\x02",
]


@pytest.mark.parametrize("value", BAD_AUTHORIZATION)
def test_no_authorization_value_gets_a_500(door: Door, value: bytes) -> None:
    context = ssl.create_default_context(cafile=door.ca.path)
    with (
        socket.create_connection(("127.0.0.1", door.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as sock,
    ):
        sock.sendall(
            b"GET /v2/models/echo HTTP/1.1\r\nHost: x\r\nAuthorization: " + value + b"\r\n\r\n"
        )
        head = sock.recv(65536).split(b"\r\n", 1)[0]
    assert head.startswith(b"HTTP/1.1 4"), head


def _triton(door: Door) -> grpcclient.InferenceServerClient:
    return grpcclient.InferenceServerClient(
        f"localhost:{door.grpc_port}", ssl=True, root_certificates=str(door.ca.path)
    )


def _status(call: Callable[[], object]) -> str:
    with pytest.raises(InferenceServerException) as caught:
        call()
    return str(caught.value.status())


def test_grpc_over_tls_checks_the_authorization_metadata(door: Door) -> None:
    client = _triton(door)
    assert client.is_server_live()
    assert _status(lambda: client.get_model_metadata("echo")) == "StatusCode.UNAUTHENTICATED"
    echo = {"authorization": f"Bearer {door.tokens['echo']}"}
    assert client.get_model_metadata("echo", headers=echo).name == "echo"
    assert (
        _status(lambda: client.get_model_metadata("sum", headers=echo))
        == "StatusCode.PERMISSION_DENIED"
    )
    every = lambda: client.get_inference_statistics("", headers=echo)  # noqa: E731
    assert _status(every) == "StatusCode.PERMISSION_DENIED"
    client.close()


def test_grpc_rate_limit_sends_retry_after(door: Door) -> None:
    credentials = grpc.ssl_channel_credentials(door.ca.path.read_bytes())
    with grpc.secure_channel(f"localhost:{door.grpc_port}", credentials) as channel:
        ready = channel.unary_unary(
            "/inference.GRPCInferenceService/ModelReady",
            request_serializer=pb.ModelReadyRequest.SerializeToString,
            response_deserializer=pb.ModelReadyResponse.FromString,
        )
        slow = (("authorization", f"Bearer {door.tokens['slow']}"),)
        assert ready(pb.ModelReadyRequest(name="echo"), metadata=slow, timeout=10).ready
        with pytest.raises(grpc.RpcError) as caught:
            ready(pb.ModelReadyRequest(name="echo"), metadata=slow, timeout=10)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert ("retry-after", "1") in caught.value.trailing_metadata()


def test_a_new_certificate_serves_new_handshakes_and_open_connections_go_on(
    door: Door, caplog: pytest.LogCaptureFixture
) -> None:
    kept = door.https()
    kept.request("GET", "/v2/health/live")
    assert kept.getresponse().read() == b'{"live":true}'
    assert peer_serial(kept.sock.getpeercert(binary_form=True)) == door.first.serial

    second = door.ca.issue("second")
    install(second, door.cert, door.key)
    fresh = door.https()
    fresh.request("GET", "/v2/health/live")
    assert fresh.getresponse().status == 200
    assert peer_serial(fresh.sock.getpeercert(binary_form=True)) == second.serial
    fresh.close()

    client = _triton(door)  # gRPC's next handshake takes the new pair as well
    assert client.is_server_live()
    client.close()

    # A key that does not match its certificate is refused; the last good pair stays.
    door.key.write_bytes(door.ca.issue("mismatch").key.read_bytes())
    with caplog.at_level(logging.ERROR):
        mismatched = door.https()
        mismatched.request("GET", "/v2/health/live")
        assert mismatched.getresponse().status == 200
        assert peer_serial(mismatched.sock.getpeercert(binary_form=True)) == second.serial
        mismatched.close()
    assert "stays in use" in caplog.text

    # The connection opened before all this is the same socket, and still serves.
    sock = kept.sock
    kept.request("GET", "/v2/health/ready")
    assert kept.getresponse().status == 200
    assert kept.sock is sock
    assert peer_serial(kept.sock.getpeercert(binary_form=True)) == door.first.serial
    kept.close()


def test_a_scoped_key_loading_its_model_over_grpc_is_sent_to_the_control_plane(
    door: Door,
) -> None:
    """As over REST: the key is checked for the model the call names, and the data plane then
    says where loads go (it said the key 'covers every deployment')."""
    client = _triton(door)
    echo = {"authorization": f"Bearer {door.tokens['echo']}"}
    with pytest.raises(InferenceServerException) as caught:
        client.load_model("echo", headers=echo)
    assert str(caught.value.status()) == "StatusCode.PERMISSION_DENIED"
    assert "only on the control-plane listener" in str(caught.value.message())
    assert "--control-grpc-port" in str(caught.value.message())  # where, as over REST
    with pytest.raises(InferenceServerException) as caught:
        client.unload_model("sum", headers=echo)
    assert "may not use 'sum'" in str(caught.value.message())
    client.close()


def test_a_scoped_key_asking_for_its_models_config_is_told_it_is_not_supported(
    door: Door,
) -> None:
    """tritonclient's get_model_config with a key for that model: the server's UNIMPLEMENTED,
    which names ModelMetadata, not a PERMISSION_DENIED for a key that may use the model."""
    client = _triton(door)
    echo = {"authorization": f"Bearer {door.tokens['echo']}"}
    with pytest.raises(InferenceServerException) as caught:
        client.get_model_config("echo", headers=echo)
    assert str(caught.value.status()) == "StatusCode.UNIMPLEMENTED"
    assert "ModelMetadata" in str(caught.value.message())
    with pytest.raises(InferenceServerException) as caught:
        client.get_model_config("sum", headers=echo)
    assert str(caught.value.status()) == "StatusCode.PERMISSION_DENIED"
    client.close()


@pytest.mark.parametrize("path", ["/v2/models/echo/config", "/v2/models/echo/versions/1/config"])
def test_a_scoped_key_asking_rest_for_its_models_config_is_told_it_is_not_supported(
    door: Door, path: str
) -> None:
    """tritonclient.http's get_model_config: the server's 501, as without keys, not a 403 for
    a key that may use the model ('may not use echo/config')."""
    status, _, body = door.get(path, "echo")
    assert status == 501, body
    assert "GET /v2/models/echo gives" in orjson.loads(body)["error"]
    assert door.get("/v2/models/sum/config", "echo")[0] == 403


def _first_answer_to_expect(door: Door, key: str, model: str) -> bytes:
    """The status line a request waiting for ``100 Continue`` first gets, with ``key``."""
    context = ssl.create_default_context(cafile=door.ca.path)
    with (
        socket.create_connection(("127.0.0.1", door.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as sock,
    ):
        sock.sendall(
            f"POST /v2/models/{model}/infer HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            f"Authorization: Bearer {door.tokens[key]}\r\nContent-Length: 5000\r\n\r\n".encode()
        )
        return sock.recv(65536).split(b"\r\n", 1)[0]


def test_a_verified_key_is_judged_by_the_head_before_its_body_is_sent(door: Door) -> None:
    """curl's Expect: 100-continue with a key already seen: a model the key may not use (403)
    or an unknown one (404) is answered before the body is uploaded; a key not verified yet
    is sent 100 (it is checked with the body), as is a request that will be read."""
    assert _first_answer_to_expect(door, "echo", "sum") == b"HTTP/1.1 100 Continue"
    assert door.get("/v2/models/echo", "echo")[0] == 200  # the key is verified now
    assert door.get("/v2/models/echo", "all")[0] == 200
    assert _first_answer_to_expect(door, "echo", "sum").startswith(b"HTTP/1.1 403 ")
    assert _first_answer_to_expect(door, "all", "nope").startswith(b"HTTP/1.1 404 ")
    assert _first_answer_to_expect(door, "echo", "echo") == b"HTTP/1.1 100 Continue"
