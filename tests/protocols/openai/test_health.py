"""vLLM's ``GET /health`` on ``inferd serve``'s data plane: 200 with an empty body while the
server is ready (every model served ready, no drain), else 503; behind API keys it asks for none,
as ``/v2/health/*`` does not."""

from __future__ import annotations

from pathlib import Path

import httpx

from inferd.config import AuthSettings
from inferd.protocols.access.frontdoor import FrontDoor
from inferd.protocols.access.keyfile import create_key
from inferd.protocols.http.host import HttpLimits
from inferd.protocols.v2.routes import data_router
from protocols.conftest import TEST_LIMITS, Running, _finish, _start, metrics_text
from protocols.openai.conftest import LlmDataPlane


def test_health_is_readiness_with_no_body_and_no_key(tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    create_key(keys, "ci")
    door = FrontDoor.from_settings(AuthSettings(keys_file=keys), None)
    dataplane = LlmDataPlane()
    router = door.router(data_router(dataplane, TEST_LIMITS, metrics_text))
    running, thread = _start(router, HttpLimits.from_settings(TEST_LIMITS), dataplane)
    try:
        healthy = httpx.get(running.url + "/health", timeout=10)
        dataplane.is_ready = False  # a model loading, or a drain begun
        unhealthy = httpx.get(running.url + "/health", timeout=10)
        models = httpx.get(running.url + "/v1/models", timeout=10)
    finally:
        _finish(running, thread)
    assert (healthy.status_code, healthy.content) == (200, b"")
    assert (unhealthy.status_code, unhealthy.content) == (503, b"")
    assert unhealthy.headers["retry-after"] == "1"
    assert models.status_code == 401  # the same door asks the other routes for a key


def test_health_is_documented_in_openapi(llm_server: Running) -> None:
    document = httpx.get(llm_server.url + "/v2/openapi.json", timeout=10).json()
    assert set(document["paths"]["/health"]["get"]["responses"]) == {"200", "503"}
