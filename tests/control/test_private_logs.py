"""Files of requests and answers are their owner's alone: a payload log (``$INFERD_HOME/payloads``)
and a replica's log (its errors, and with the access log its clients' addresses and paths) were
created 0644 in a 0755 folder, readable by every user of the machine."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from inferd.control.gateway.payloads.rotating import RotatingFile
from inferd.control.replicas.logs import RotatingLog


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def _open_umask() -> Iterator[None]:
    """The umask most machines run with, which left the files world-readable."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_a_payload_log_and_its_new_folder_are_private(tmp_path: Path) -> None:
    path = tmp_path / "payloads" / "fraud.jsonl"
    log = RotatingFile(path, max_bytes=64, max_files=2)
    log.write([b'{"id": 1, "inputs": "a card number"}\n'] * 3)  # rotated: a new file too
    log.close()
    assert _mode(path.parent) == 0o700
    assert _mode(path) == 0o600
    assert _mode(path.with_name("fraud.jsonl.1")) == 0o600


def test_a_replica_log_is_private(tmp_path: Path) -> None:
    path = tmp_path / "fraud-v1-1.log"
    log = RotatingLog(path, max_bytes=16)
    log.open()
    log.write(b"127.0.0.1:5000 POST /v2/models/fraud/infer 200\n")  # past max_bytes: rotated
    log.write(b"ready\n")  # in a new file
    log.close()
    assert _mode(path) == 0o600
    assert _mode(path.with_name("fraud-v1-1.log.1")) == 0o600
