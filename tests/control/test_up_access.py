"""API keys and TLS on a real ``inferd up``'s gateway (REST and gRPC), through clients nobody
here wrote: curl, tritonclient.http and tritonclient.grpc over TLS. Keys and certificates are
made by the test; replicas stay plain HTTP on loopback behind the gateway."""

from __future__ import annotations

import http.client
import os
import re
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from control.conftest import FRAUD_BODY, INFERD, QUICKSTART, UpProcess, fraud_store, start_up
from protocols.access.certs import TestCA, install, peer_serial
from protocols.access.probes import curl, replace_certificate

pytestmark = pytest.mark.slow

ROWS = np.random.default_rng(3).standard_normal((4, 8)).astype(np.float32)
SPEC = """\
apiVersion: inferd.dev/v1
kind: Stack
gateway:
  port: 0
  drain_timeout: 5s
{access}deployments:
  - name: fraud
    versions:
      - {{name: v1, model: "fraud:v1"}}
  - name: other
    versions:
      - {{name: v2, model: "fraud:v2"}}
"""
SECURED = """\
  auth: {keys_file: keys.json}
  tls: {cert_file: tls/cert.pem, key_file: tls/key.pem}
"""


def inferd(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The inferd command with ``$INFERD_HOME`` at ``home`` (no ``inferd up`` needed)."""
    env = {**os.environ, "INFERD_HOME": str(home)}
    return subprocess.run(
        [*INFERD, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


@dataclass
class Secured:
    up: UpProcess
    ca: TestCA
    dir: Path
    tokens: dict[str, str]

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.up.gateway_port}"

    @property
    def grpc_port(self) -> int:
        return int(self.up.state.gateway_grpc.rsplit(":", 1)[1])

    def key(self, name: str) -> list[str]:
        return ["--cacert", str(self.ca.path), "-H", f"Authorization: Bearer {self.tokens[name]}"]

    def keys(self, *args: str) -> str:
        return self.up.cli("keys", *args, "--keys-file", str(self.dir / "keys.json")).stdout.strip()


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    root = tmp_path_factory.mktemp("up-access")
    home = root / "home"
    fraud_store(home)
    ca = TestCA(root / "pki")
    install(ca.issue("first"), root / "tls" / "cert.pem", root / "tls" / "key.pem")
    spec = root / "inferd.yaml"
    spec.write_text(SPEC.format(access=SECURED))
    tokens = {
        name: inferd(
            home, "keys", "create", name, *args, "--keys-file", str(root / "keys.json")
        ).stdout.strip()
        for name, args in {
            "fraud": ("--deployment", "fraud"),
            "reader": ("--scope", "read"),
            "slow": ("--rps", "1"),
        }.items()
    }
    started = start_up(home, spec)
    yield Secured(started, ca, root, tokens)
    assert started.stop() == 0


def test_the_banner_says_https_and_that_keys_are_required(secured: Secured) -> None:
    log = secured.up.log.read_text()
    assert f"gateway    {secured.base}" in log
    assert "access     TLS, API keys from" in log and "keys.json required" in log
    assert '-H "Authorization: Bearer $INFERD_KEY"' in log
    assert secured.up.state.gateway_url == secured.base


def test_curl_through_the_gateway(secured: Secured) -> None:
    base, tls = secured.base, ["--cacert", str(secured.ca.path)]
    post = ["-X", "POST", "-H", "Content-Type: application/json", "--data", FRAUD_BODY.decode()]
    assert curl(*tls, f"{base}/v2/health/ready")[0] == [200]
    statuses, out = curl(*tls, *post, f"{base}/v2/models/fraud/infer")
    assert statuses == [401] and '\nwww-authenticate: Bearer realm="inferd"\n' in out
    statuses, out = curl(*secured.key("fraud"), *post, f"{base}/v2/models/fraud/infer")
    assert statuses == [200] and '"name":"probabilities"' in out
    statuses, out = curl(*secured.key("fraud"), *post, f"{base}/v2/models/other/infer")
    assert statuses == [403] and "may not use 'other'" in out
    for path in ("/metrics", "/api/status", "/api/history", "/"):
        assert curl(*tls, f"{base}{path}")[0] == [401], path
        assert curl(*secured.key("fraud"), f"{base}{path}")[0] == [403], path
        assert curl(*secured.key("reader"), f"{base}{path}")[0] == [200], path
    # A browser is offered Basic for the dashboard, and sends the key as the password.
    statuses, out = curl(*tls, f"{base}/")
    assert '\nwww-authenticate: Basic realm="inferd", charset="UTF-8"\n' in out
    assert curl(*tls, "-u", f"me:{secured.tokens['reader']}", f"{base}/api/status")[0] == [200]
    statuses, out = curl(*secured.key("slow"), *[f"{base}/v2/models/fraud/ready"] * 4)
    assert statuses[0] == 200 and 429 in statuses[1:]
    assert re.search(r"^retry-after: 1$", out, re.M)


def test_tritonclient_http_and_grpc_over_tls(secured: Secured) -> None:
    session = ort.InferenceSession(
        str(QUICKSTART / "fraud-v1" / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    label, probabilities = session.run(["label", "probabilities"], {"input": ROWS})
    auth = {"authorization": f"Bearer {secured.tokens['fraud']}"}

    rest = httpclient.InferenceServerClient(
        f"127.0.0.1:{secured.up.gateway_port}", ssl=True,
        ssl_options={"ca_certs": str(secured.ca.path)},
    )  # fmt: skip
    assert rest.is_server_ready()
    x = httpclient.InferInput("input", [4, 8], "FP32")
    x.set_data_from_numpy(ROWS, binary_data=True)
    with pytest.raises(InferenceServerException, match="requires an API key"):
        rest.infer("fraud", [x])
    answer = rest.infer("fraud", [x], headers=dict(auth))
    np.testing.assert_array_equal(answer.as_numpy("label"), label)
    np.testing.assert_allclose(answer.as_numpy("probabilities"), probabilities, rtol=1e-6)
    rest.close()

    grpc = grpcclient.InferenceServerClient(
        f"localhost:{secured.grpc_port}", ssl=True, root_certificates=str(secured.ca.path)
    )
    assert grpc.is_server_live()
    g = grpcclient.InferInput("input", [4, 8], "FP32")
    g.set_data_from_numpy(ROWS)
    with pytest.raises(InferenceServerException) as caught:
        grpc.infer("fraud", [g])
    assert caught.value.status() == "StatusCode.UNAUTHENTICATED"
    result = grpc.infer("fraud", [g], headers=auth)
    np.testing.assert_array_equal(result.as_numpy("label"), label)
    np.testing.assert_allclose(result.as_numpy("probabilities"), probabilities, rtol=1e-6)
    with pytest.raises(InferenceServerException) as caught:
        grpc.infer("other", [g], headers=auth)
    assert caught.value.status() == "StatusCode.PERMISSION_DENIED"
    with pytest.raises(InferenceServerException) as caught:
        grpc.get_model_repository_index(headers=auth)  # lists every deployment
    assert caught.value.status() == "StatusCode.PERMISSION_DENIED"
    grpc.close()


def test_replicas_stay_plain_http_on_loopback(secured: Secured) -> None:
    replicas = secured.up.ps()["replicas"]
    assert replicas
    for replica in replicas:  # type: ignore[attr-defined]
        conn = http.client.HTTPConnection("127.0.0.1", int(replica["port"]), timeout=10)
        conn.request("GET", "/v2/health/ready")
        assert conn.getresponse().status == 200
        conn.close()


def test_an_apply_cannot_change_the_gateways_security(secured: Secured, tmp_path: Path) -> None:
    changed = tmp_path / "open.yaml"
    changed.write_text(SPEC.format(access=""))
    result = secured.up.cli("apply", str(changed), check=False)
    assert result.returncode == 6
    assert "gateway.auth and gateway.tls are read once" in result.stderr


def test_a_new_certificate_keeps_an_open_connection_and_a_revoke_applies_live(
    secured: Secured,
) -> None:
    context = ssl.create_default_context(cafile=secured.ca.path)
    port = secured.up.gateway_port
    kept = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
    auth = {"authorization": f"Bearer {secured.tokens['fraud']}"}
    kept.request("GET", "/v2/models/fraud/ready", headers=auth)
    response = kept.getresponse()
    assert (response.status, response.read()) == (200, b'{"name":"fraud","ready":true}')
    first = peer_serial(kept.sock.getpeercert(binary_form=True))
    tls = secured.dir / "tls"
    replace_certificate(secured.ca, tls / "cert.pem", tls / "key.pem", port)
    sock = kept.sock
    kept.request("GET", "/v2/models/fraud/ready", headers=auth)
    response = kept.getresponse()
    assert (response.status, response.read()) == (200, b'{"name":"fraud","ready":true}')
    assert kept.sock is sock and peer_serial(sock.getpeercert(binary_form=True)) == first

    secured.keys("revoke", "fraud")
    deadline, status = time.monotonic() + 10, 200
    while status != 401 and time.monotonic() < deadline:
        kept.request("GET", "/v2/models/fraud/ready", headers=auth)  # the same connection
        response = kept.getresponse()
        response.read()
        status = response.status
        time.sleep(0.1)
    assert status == 401
    kept.close()


def test_the_home_keys_file_locks_an_open_gateway_once_it_exists(tmp_path: Path) -> None:
    home = tmp_path / "home"
    fraud_store(home)
    spec = tmp_path / "inferd.yaml"
    spec.write_text(SPEC.format(access=""))
    up = start_up(home, spec)
    try:
        assert "access     plain HTTP, API keys from" in up.log.read_text()
        base = f"http://127.0.0.1:{up.gateway_port}"
        assert curl(f"{base}/v2/models/fraud/ready")[0] == [200]  # open: no keys yet
        token = up.cli("keys", "create", "first").stdout.strip()  # $INFERD_HOME/keys.json
        deadline, statuses = time.monotonic() + 10, [200]
        while statuses != [401] and time.monotonic() < deadline:
            statuses, _ = curl(f"{base}/v2/models/fraud/ready")
            time.sleep(0.1)
        assert statuses == [401]
        key = ["-H", f"Authorization: Bearer {token}"]
        assert curl(*key, f"{base}/v2/models/fraud/ready")[0] == [200]
        (home / "keys.json").unlink()  # never open again: no key is valid now
        time.sleep(1.0)
        assert curl(f"{base}/v2/models/fraud/ready")[0] == [401]
        assert curl(*key, f"{base}/v2/models/fraud/ready")[0] == [401]
        assert curl(f"{base}/v2/health/live")[0] == [200]
    finally:
        assert up.stop() == 0


def test_a_named_keys_file_that_is_missing_stops_inferd_up(tmp_path: Path) -> None:
    home = tmp_path / "home"
    fraud_store(home)
    spec = tmp_path / "inferd.yaml"
    spec.write_text(SPEC.format(access="  auth: {keys_file: nowhere.json}\n"))
    result = inferd(home, "up", str(spec))
    assert result.returncode == 2
    assert "nowhere.json does not exist; create a key with" in result.stderr
    assert "gateway.auth.keys_file:" in result.stderr  # the setting, not only the file
