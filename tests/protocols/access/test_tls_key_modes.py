"""A TLS private key that other local users can read lets any of them impersonate the server:
the listener still starts (the file is the operator's to fix), but says so, naming the fix, as
it says nothing of a key kept 0600 or on a read-only filesystem (a Kubernetes secret)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from inferd.protocols.access.tls import CertificateFiles
from protocols.access.certs import TestCA, install


def test_a_key_others_can_read_is_warned_about_naming_the_fix(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ca = TestCA(tmp_path / "pki")
    cert, key = tmp_path / "tls.pem", tmp_path / "tls.key"
    install(ca.issue("first"), cert, key)
    key.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="inferd.protocols.access.tls"):
        CertificateFiles(cert, key)
    assert f"TLS: the key file {key} is readable by group or others (mode 0644)" in caplog.text
    assert f"chmod 600 {key}" in caplog.text
    caplog.clear()
    key.chmod(0o600)
    with caplog.at_level(logging.WARNING, logger="inferd.protocols.access.tls"):
        CertificateFiles(cert, key)
    assert "readable by group or others" not in caplog.text
