"""Certificate and key files a TLS listener is given by mistake: each refused naming the file
and what is wrong with it, and an encrypted key refused without asking for a passphrase (which
blocked start-up on a terminal, and a rotation on the event loop, waiting for someone to type)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from inferd.errors import InvalidArgument
from inferd.protocols.access.tls import server_context
from protocols.access.certs import Issued, TestCA, install, peer_serial
from protocols.access.conftest import Door


def _encrypted(issued: Issued, target: Path, *, traditional: bool) -> Path:
    key = serialization.load_pem_private_key(issued.key.read_bytes(), password=None)
    layout = (
        serialization.PrivateFormat.TraditionalOpenSSL
        if traditional
        else serialization.PrivateFormat.PKCS8
    )
    target.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, layout, serialization.BestAvailableEncryption(b"secret")
        )
    )
    return target


def _refusal(cert: Path, key: Path) -> str:
    with pytest.raises(InvalidArgument) as caught:
        server_context(cert, key)
    return caught.value.message


@pytest.mark.parametrize("traditional", [True, False], ids=["traditional", "pkcs8"])
def test_an_encrypted_key_is_refused_without_a_passphrase_prompt(
    tmp_path: Path, traditional: bool
) -> None:
    issued = TestCA(tmp_path).issue()
    key = _encrypted(issued, tmp_path / "locked.key", traditional=traditional)
    message = _refusal(issued.cert, key)
    assert f"the key file '{key}' is encrypted" in message
    assert "openssl pkey" in message


def test_files_holding_the_wrong_thing_are_named(tmp_path: Path) -> None:
    ca = TestCA(tmp_path)
    issued, other = ca.issue("one"), ca.issue("two")
    empty = tmp_path / "empty.pem"
    empty.write_bytes(b"")
    assert f"the certificate file '{empty}' holds no PEM certificate" in _refusal(empty, issued.key)
    assert f"the certificate file '{issued.key}' holds no PEM certificate" in _refusal(
        issued.key, issued.key
    )
    assert f"the key file '{issued.cert}' holds no PEM private key" in _refusal(
        issued.cert, issued.cert
    )
    assert f"the key file '{empty}' holds no PEM private key" in _refusal(issued.cert, empty)
    message = _refusal(issued.cert, other.key)
    assert f"the key file '{other.key}' does not match the certificate" in message
    server_context(issued.cert, issued.key)  # the right pair loads


def test_a_rotation_to_an_encrypted_key_keeps_the_last_good_pair(
    door: Door, caplog: pytest.LogCaptureFixture
) -> None:
    second = door.ca.issue("second")
    install(second, door.cert, door.key)
    _encrypted(second, door.key, traditional=False)
    with caplog.at_level(logging.ERROR):
        fresh = door.https()
        fresh.request("GET", "/v2/health/live")
        assert fresh.getresponse().status == 200
        assert peer_serial(fresh.sock.getpeercert(binary_form=True)) == door.first.serial
        fresh.close()
    assert "is encrypted" in caplog.text
    assert "stays in use" in caplog.text
