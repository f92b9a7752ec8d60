"""API keys and TLS on a real ``inferd serve``, through clients nobody here wrote: curl,
tritonclient.http over TLS and tritonclient.grpc over TLS. Keys and certificates are made by
the test; answers are compared to in-process onnxruntime."""

from __future__ import annotations

import http.client
import os
import re
import ssl
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import orjson
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from e2e.conftest import INFERD, ServeProcess
from protocols.access.certs import TestCA, install, peer_serial
from protocols.access.probes import curl, replace_certificate

pytestmark = pytest.mark.slow

FRAUD_V1 = (
    Path(__file__).resolve().parents[2] / "examples" / "quickstart" / "fraud-v1" / "model.onnx"
)
ROWS = np.random.default_rng(7).standard_normal((3, 8)).astype(np.float32)
FRAUD_BODY = orjson.dumps(
    {
        "inputs": [
            {"name": "input", "shape": [3, 8], "datatype": "FP32", "data": ROWS.ravel().tolist()}
        ]
    }
)


def _keys(home: Path, keys_file: Path, *args: str) -> str:
    env = {**os.environ, "INFERD_HOME": str(home)}
    done = subprocess.run(
        [*INFERD, "keys", *args, "--keys-file", str(keys_file)],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return done.stdout.strip()


@dataclass
class Secured:
    server: ServeProcess
    home: Path
    ca: TestCA
    tokens: dict[str, str]
    keys_file: Path
    cert: Path
    key: Path


@pytest.fixture
def secured(store_home: Path, tmp_path: Path, serve: Callable[..., ServeProcess]) -> Secured:
    ca = TestCA(tmp_path / "pki")
    cert, key = tmp_path / "tls.pem", tmp_path / "tls.key"
    install(ca.issue("first"), cert, key)
    keys_file = tmp_path / "keys.json"
    tokens = {
        "fraud": _keys(store_home, keys_file, "create", "fraud-app", "--deployment", "fraud"),
        "read": _keys(store_home, keys_file, "create", "prometheus", "--scope", "read"),
        "slow": _keys(store_home, keys_file, "create", "slow", "--rps", "2"),
    }
    server = serve(
        store_home, "fraud:v1", "id-fp32:v1", "--keys-file", str(keys_file),
        "--tls-cert", str(cert), "--tls-key", str(key),
    )  # fmt: skip
    return Secured(server, store_home, ca, tokens, keys_file, cert, key)


def test_curl_sees_keys_scopes_rate_and_revocation(secured: Secured) -> None:
    server, ca, tokens = secured.server, secured.ca, secured.tokens
    assert any("access      TLS, API keys from" in line for line in server.log)
    base = f"https://127.0.0.1:{server.port}"
    tls = ["--cacert", str(ca.path)]
    infer = ["-X", "POST", "-H", "Content-Type: application/json", "--data", FRAUD_BODY.decode()]

    statuses, _ = curl(*tls, f"{base}/v2/health/ready")
    assert statuses == [200]
    statuses, out = curl(*tls, *infer, f"{base}/v2/models/fraud/infer")
    assert statuses == [401]
    assert '\nwww-authenticate: Bearer realm="inferd"\n' in out
    fraud = ["-H", f"Authorization: Bearer {tokens['fraud']}"]
    statuses, out = curl(*tls, *fraud, *infer, f"{base}/v2/models/fraud/infer")
    assert statuses == [200]
    answer = orjson.loads(out.split("\n\n", 1)[1].rsplit("\nSTATUS", 1)[0])
    session = ort.InferenceSession(str(FRAUD_V1), providers=["CPUExecutionProvider"])
    (probabilities,) = session.run(["probabilities"], {"input": ROWS})
    got = next(o for o in answer["outputs"] if o["name"] == "probabilities")
    np.testing.assert_allclose(np.array(got["data"]).reshape(3, 2), probabilities, rtol=1e-6)

    statuses, out = curl(*tls, *fraud, f"{base}/v2/models/id-fp32")
    assert statuses == [403] and "may not use 'id-fp32'" in out
    statuses, _ = curl(*tls, *fraud, f"{base}/metrics")
    assert statuses == [403]
    statuses, out = curl(*tls, "-H", f"Authorization: Bearer {tokens['read']}", f"{base}/metrics")
    assert statuses == [200] and "inferd_" in out
    statuses, _ = curl(*tls, "-u", f"prometheus:{tokens['read']}", f"{base}/metrics")
    assert statuses == [200]  # Basic, as a browser or a scraper with basic_auth sends it
    statuses, _ = curl(*tls, "-H", "Authorization: Bearer nonsense", f"{base}/metrics")
    assert statuses == [401]

    # Five requests on one connection with a 2 requests/s key: the burst, then 429.
    slow = ["-H", f"Authorization: Bearer {tokens['slow']}"]
    statuses, out = curl(*tls, *slow, *[f"{base}/v2/models/fraud/ready"] * 5)
    assert statuses[:2] == [200, 200] and 429 in statuses[2:]
    assert re.search(r"^retry-after: 1$", out, re.M)

    # Revoked while the server runs: refused within a second or so.
    _keys(secured.home, secured.keys_file, "revoke", "fraud-app")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        statuses, _ = curl(*tls, *fraud, f"{base}/v2/models/fraud/ready")
        if statuses == [401]:
            break
        time.sleep(0.1)
    assert statuses == [401]


def test_tritonclient_http_and_grpc_over_tls_with_a_key(secured: Secured) -> None:
    server, ca, tokens = secured.server, secured.ca, secured.tokens
    auth = {"authorization": f"Bearer {tokens['fraud']}"}
    session = ort.InferenceSession(str(FRAUD_V1), providers=["CPUExecutionProvider"])
    label, probabilities = session.run(["label", "probabilities"], {"input": ROWS})

    rest = httpclient.InferenceServerClient(
        f"127.0.0.1:{server.port}", ssl=True, ssl_options={"ca_certs": str(ca.path)}
    )
    assert rest.is_server_live()
    with pytest.raises(InferenceServerException, match="requires an API key"):
        rest.get_model_metadata("fraud")
    x = httpclient.InferInput("input", [3, 8], "FP32")
    x.set_data_from_numpy(ROWS, binary_data=True)
    result = rest.infer("fraud", [x], headers=dict(auth))  # it adds its own to the dict
    np.testing.assert_array_equal(result.as_numpy("label"), label)
    np.testing.assert_allclose(result.as_numpy("probabilities"), probabilities, rtol=1e-6)
    rest.close()

    assert server.grpc_port is not None
    grpc = grpcclient.InferenceServerClient(
        f"localhost:{server.grpc_port}", ssl=True, root_certificates=str(ca.path)
    )
    assert grpc.is_server_ready()
    with pytest.raises(InferenceServerException) as caught:
        grpc.is_model_ready("fraud")
    assert caught.value.status() == "StatusCode.UNAUTHENTICATED"
    g = grpcclient.InferInput("input", [3, 8], "FP32")
    g.set_data_from_numpy(ROWS)
    answer = grpc.infer("fraud", [g], headers=auth)
    np.testing.assert_array_equal(answer.as_numpy("label"), label)
    np.testing.assert_allclose(answer.as_numpy("probabilities"), probabilities, rtol=1e-6)
    with pytest.raises(InferenceServerException) as caught:
        grpc.infer("id-fp32", [g], headers=auth)
    assert caught.value.status() == "StatusCode.PERMISSION_DENIED"
    grpc.close()


def test_a_replaced_certificate_keeps_an_open_connection(secured: Secured) -> None:
    server, ca = secured.server, secured.ca
    context = ssl.create_default_context(cafile=ca.path)
    kept = http.client.HTTPSConnection("127.0.0.1", server.port, timeout=10, context=context)
    kept.request("GET", "/v2/health/live")
    assert kept.getresponse().read() == b'{"live":true}'
    first = peer_serial(kept.sock.getpeercert(binary_form=True))
    replace_certificate(ca, secured.cert, secured.key, server.port)
    sock = kept.sock
    kept.request("GET", "/v2/health/ready")
    assert kept.getresponse().status == 200
    assert kept.sock is sock and peer_serial(sock.getpeercert(binary_form=True)) == first
    kept.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--keys-file", "{tmp}/missing.json"], "does not exist; create a key with"),
        (["--tls-cert", "{tmp}/c.pem"], "--tls-cert and --tls-key go together"),
        (["--tls-cert", "{tmp}/c.pem", "--tls-key", "{tmp}/k.pem"], "TLS:"),
    ],
)
def test_bad_access_settings_exit_2_before_listening(
    store_home: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    env = {**os.environ, "INFERD_HOME": str(store_home)}
    done = subprocess.run(
        [*INFERD, "serve", "fraud:v1", "--port", "0", "--grpc-port", "0", "--no-control",
         *(a.format(tmp=tmp_path) for a in args)],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
