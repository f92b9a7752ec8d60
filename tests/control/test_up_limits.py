"""``inferd up``'s gateway takes its HTTP limits as ``inferd serve`` does, from
``INFERD_LIMITS__*``: it was built with the defaults whatever was set, so a body limit raised
(or lowered) for a deployment was refused (or let through) at the gateway's 64 MiB."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import pytest

from inferd.control.replicas.launch import ReplicaLaunch

from .conftest import FRAUD_BODY, INFERD, fraud_store, spec_text, start_up

#: A fraud request padded past 2 KiB: JSON allows whitespace between tokens.
PADDED = FRAUD_BODY[:-1] + b" " * 3000 + b"}"


def test_the_gateway_applies_the_body_limit_of_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    fraud_store(home)
    spec = tmp_path / "inferd.yaml"
    spec.write_text(spec_text({"v1": ("fraud:v1", 1, 100)}))
    monkeypatch.setenv("INFERD_LIMITS__MAX_BODY_BYTES", "2048")
    up = start_up(home, spec)
    try:
        url = f"http://127.0.0.1:{up.gateway_port}/v2/models/fraud/infer"
        headers = {"content-type": "application/json"}
        small = httpx.post(url, content=FRAUD_BODY, headers=headers, timeout=30)
        big = httpx.post(url, content=PADDED, headers=headers, timeout=30)
    finally:
        assert up.stop() == 0
    assert small.status_code == 200, small.text
    assert big.status_code == 413, big.text
    assert "2048" in big.json()["error"]


def test_a_bad_limit_stops_inferd_up_naming_the_variable(tmp_path: Path) -> None:
    home = tmp_path / "home"
    fraud_store(home)
    spec = tmp_path / "inferd.yaml"
    spec.write_text(spec_text({"v1": ("fraud:v1", 1, 100)}))
    env = {**os.environ, "INFERD_HOME": str(home), "INFERD_LIMITS__MAX_BODY_BYTES": "lots"}
    done = subprocess.run(
        [*INFERD, "up", str(spec)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "INFERD_LIMITS__MAX_BODY_BYTES" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_replicas_get_the_same_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A limit raised for ``inferd up`` reaches its replicas too (other ``INFERD_*`` overrides
    still do not: they would fight the launch)."""
    monkeypatch.setenv("INFERD_LIMITS__MAX_BODY_BYTES", "134217728")
    monkeypatch.setenv("INFERD_PORT", "9999")
    launch = ReplicaLaunch("fraud", "v1", "fraud", "fraud:v1", "fraud:v1@sha256:0", None,
                           log_dir=tmp_path, home=tmp_path)  # fmt: skip
    env = launch.environment("fraud-v1-0")
    assert env["INFERD_LIMITS__MAX_BODY_BYTES"] == "134217728"
    assert "INFERD_PORT" not in env


def test_a_replica_names_itself_on_its_spans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its id joins the resource attributes the user gave, so a span leads to its log."""
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod")
    launch = ReplicaLaunch("fraud", "v1", "fraud", "fraud:v1", "fraud:v1@sha256:0", None,
                           log_dir=tmp_path, home=tmp_path)  # fmt: skip
    env = launch.environment("fraud-v1-2")
    expected = "deployment.environment=prod,inferd.replica=fraud-v1-2"
    assert env["OTEL_RESOURCE_ATTRIBUTES"] == expected
