"""The gateway's own refusals of an OpenAI request name the field at fault in ``param``, as a
replica's do: a body without a usable ``model`` is ``param: "model"``."""

from __future__ import annotations

import httpx
import pytest

from .conftest import run, started_gateway, topology


@pytest.mark.parametrize("body", [b"{}", b'{"model": ""}', b'{"model": 5, "prompt": "hi"}'])
def test_a_body_without_a_model_names_the_model_field(body: bytes) -> None:
    async def scenario() -> httpx.Response:
        gateway = await started_gateway(topology())
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                return await client.post(
                    f"http://127.0.0.1:{gateway.port}/v1/completions", content=body
                )
        finally:
            await gateway.stop(5)

    answer = run(scenario)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["param"] == "model" and error["code"] == "invalid_argument"
    assert error["message"].startswith("model: ") and "names no model" in error["message"]
