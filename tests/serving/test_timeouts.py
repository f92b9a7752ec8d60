"""Per-model request timeouts: ``models.<name>.request_timeout_s`` (config file or environment)
is the deadline of a request to that model that sets none of its own."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from inferd.config import ServerSettings
from inferd.errors import DeadlineExceeded
from inferd.settings_file import load_settings

from .conftest import Harness, request, rows


def test_a_model_times_out_after_its_own_timeout(harness: Harness) -> None:
    harness.push("quick:v1")
    harness.push("patient:v1")

    async def main() -> None:
        plane, manager, _ = harness.plane(models={"quick": {"request_timeout_s": 0.1}})
        await manager.serve(["quick:v1", "patient:v1"])
        try:
            harness.probe.hold()
            started = time.monotonic()
            with pytest.raises(DeadlineExceeded):
                await plane.infer(request("quick", rows(1, 1.0)))
            assert time.monotonic() - started < 5  # not the server's 30 s
            patient = asyncio.ensure_future(plane.infer(request("patient", rows(1, 2.0))))
            await asyncio.sleep(0.3)
            assert not patient.done()  # the server's 30 s apply to it
            harness.probe.release()
            assert (await patient).outputs
        finally:
            harness.probe.release()
            await plane.close()

    asyncio.run(main())


def test_per_model_settings_come_from_the_config_file_and_environment(tmp_path: Path) -> None:
    config = tmp_path / "serve.yaml"
    config.write_text("request_timeout_s: 20\nmodels:\n  fraud: {request_timeout_s: 2.5}\n")
    environ = {"INFERD_MODELS__CHAT__REQUEST_TIMEOUT_S": "120"}
    settings = load_settings(ServerSettings, file=config, environ=environ)
    assert settings.request_timeout_for("fraud") == 2.5
    assert settings.request_timeout_for("chat") == 120
    assert settings.request_timeout_for("other") == 20
    # Generations keep only a model's own timeout: the server-wide one is for one inference.
    assert settings.generation_timeout_for("chat") == 120
    assert settings.generation_timeout_for("other") is None
