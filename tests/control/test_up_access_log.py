"""``gateway.access_log`` under ``inferd up``: the gateway writes a line per request to up's
log and each replica to its own (``up/logs/<replica>.log``), both in the spec's format."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson

from .conftest import FRAUD_BODY, fraud_store, spec_text, start_up


def _entries(log: Path) -> list[dict[str, object]]:
    """The JSON access lines of a log (other lines are the process's own messages)."""
    found = []
    for line in log.read_text().splitlines():
        start = line.find('{"time"')
        if start >= 0:
            found.append(orjson.loads(line[start:]))
    return found


def test_the_gateway_and_its_replicas_log_each_request(tmp_path: Path) -> None:
    home = tmp_path / "home"
    fraud_store(home)
    spec = tmp_path / "inferd.yaml"
    spec.write_text(
        spec_text({"v1": ("fraud:v1", 1, 100)}).replace(
            "gateway:\n", "gateway:\n  access_log: json\n"
        )
    )
    up = start_up(home, spec)
    try:
        url = f"http://127.0.0.1:{up.gateway_port}/v2/models/fraud/infer"
        answer = httpx.post(url, content=FRAUD_BODY, timeout=30)
        assert answer.status_code == 200, answer.text
    finally:
        assert up.stop() == 0
    gateway = [e for e in _entries(up.log) if e["path"] == "/v2/models/fraud/infer"]
    assert [(e["method"], e["status"]) for e in gateway] == [("POST", 200)]
    replica = _entries(home / "up" / "logs" / "fraud-v1-1.log")
    assert ("POST", "/v2/models/fraud/infer", 200) in [
        (e["method"], e["path"], e["status"]) for e in replica
    ]
