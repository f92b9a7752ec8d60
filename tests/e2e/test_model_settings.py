"""``models: {NAME: …}`` settings that match no served model are said, not silently dropped."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from inferd.config import ModelSettings, ServerSettings, StoreSettings
from inferd.server import build_server


def test_settings_for_a_name_no_model_has_are_warned_about(
    store_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    timeout = ModelSettings(request_timeout_s=0.5)
    settings = ServerSettings(
        host="127.0.0.1",
        port=0,
        grpc_port=None,
        control_port=None,
        control_grpc_port=None,
        store=StoreSettings(home=store_home),
        # What INFERD_MODELS__ID_FP32__REQUEST_TIMEOUT_S gives: no variable can spell '-'.
        models={"id_fp32": timeout, "fraud": timeout, "fruad": timeout},
    )
    server = build_server(settings, ["id-fp32:v1", "fraud:v1"], control=False)

    async def run() -> None:
        await server.start()
        await server.shutdown()

    with caplog.at_level(logging.WARNING, logger="inferd"):
        asyncio.run(run())
    warned = sorted(r.getMessage() for r in caplog.records if "match no model" in r.getMessage())
    assert warned == [
        "settings for model 'fruad' (models.fruad) match no model this server serves "
        "(fraud, id-fp32)",
        "settings for model 'id_fp32' (models.id_fp32) match no model this server serves "
        "(fraud, id-fp32); 'id-fp32' is served: a name with '-' cannot be spelt in an "
        "environment variable, set it under 'models' in a --config file",
    ]
