"""Triton's model-configuration route (``tritonclient.http``'s ``get_model_config``):
``GET /v2/models/{model}[/versions/{version}]/config`` is not served, and the answer says so
rather than 404 "model 'fraud/config' not found" about a model that is served."""

from __future__ import annotations

import httpx
import pytest


@pytest.fixture
def client(data_server):
    with httpx.Client(base_url=data_server.url, timeout=10) as c:
        yield c


@pytest.mark.parametrize("path", ["/v2/models/sum/config", "/v2/models/sum/versions/1/config"])
def test_the_config_of_a_served_model_is_501_naming_the_metadata_route(client, path):
    answer = client.get(path)
    assert answer.status_code == 501
    assert answer.json() == {
        "error": "Triton's model configuration extension (GET …/config) is not supported: "
        "inferd has no model configuration; GET /v2/models/sum gives the model's inputs "
        "and outputs"
    }


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/v2/models/nope/config", "model 'nope/config' not found"),
        ("/v2/models/sum/versions/9/config", "model 'sum/versions/9/config' not found"),
    ],
)
def test_the_config_of_an_unknown_model_or_version_stays_404(client, path, error):
    answer = client.get(path)
    assert (answer.status_code, answer.json()) == (404, {"error": error})
