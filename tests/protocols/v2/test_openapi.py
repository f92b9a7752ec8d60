"""The served OpenAPI document is accurate: schemathesis finds no 5xx and no non-conformance."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks as st_checks

from inferd.protocols.v2.routes import OPENAPI_PATH

CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_schema_conformance,
]


def test_document_lists_every_data_route(data_server):
    doc = httpx.get(data_server.url + OPENAPI_PATH).json()
    assert doc["openapi"].startswith("3.")
    for path in (
        "/v2/health/live",
        "/v2/models/{model}/versions/{version}/infer",
        "/v1/models/{model}:predict",
        "/metrics",
        "/v2/models/stats",
        OPENAPI_PATH,
    ):
        assert path in doc["paths"]
    assert "/v2/repository/index" not in doc["paths"]
    explain = doc["paths"]["/v1/models/{model}:explain"]["post"]["responses"]
    assert sorted(explain) == ["404", "501"]  # never a 200


_METADATA = ("/v2/models/{model}", "/v2/models/{model}/versions/{version}")
_INFER = ("/v2/models/{model}/infer", "/v2/models/{model}/versions/{version}/infer")


def test_model_metadata_declares_the_503_of_a_model_with_no_version_ready(data_server):
    data_server.dataplane.without_version.add("echo")
    for path in ("/v2/models/echo", "/v2/models/echo/versions/1"):
        answer = httpx.get(data_server.url + path)
        assert answer.status_code == 503
        assert answer.headers["retry-after"] == "5"
        assert list(answer.json()) == ["error"]
    doc = httpx.get(data_server.url + OPENAPI_PATH).json()
    for template in _METADATA:
        declared = doc["paths"][template]["get"]["responses"]["503"]
        assert declared["content"] == {
            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
        }
        assert declared["headers"]["Retry-After"]["schema"] == {"type": "integer", "minimum": 1}


def test_every_503_and_429_declares_retry_after(data_server):
    doc = httpx.get(data_server.url + OPENAPI_PATH).json()
    answers = [
        (path, method, status, response)
        for path, item in doc["paths"].items()
        for method, operation in item.items()
        if method != "parameters"
        for status, response in operation["responses"].items()
        if status in ("429", "503")
    ]
    assert answers, "no route declares a 503"
    for path, method, status, response in answers:
        assert "Retry-After" in response.get("headers", {}), (method, path, status)


def test_inference_declares_the_binary_extension_request(data_server):
    doc = httpx.get(data_server.url + OPENAPI_PATH).json()
    for template in _INFER:
        operation = doc["paths"][template]["post"]
        content = operation["requestBody"]["content"]
        assert content["application/octet-stream"]["schema"] == {
            "type": "string",
            "format": "binary",
        }
        (header,) = [p for p in operation["parameters"] if p["in"] == "header"]
        assert (header["name"], header["required"]) == ("Inference-Header-Content-Length", False)
        assert {p["name"] for p in operation["parameters"] if p["in"] == "path"} <= {
            "model",
            "version",
        }


def _run_schemathesis(url: str, headers: dict[str, str] | None = None) -> int:
    schema = schemathesis.openapi.from_url(url + OPENAPI_PATH, headers=headers or {})
    schema.config.base_url = url
    count = 0
    for operation in schema.get_all_operations():
        strategy = operation.ok().as_strategy()

        @settings(
            max_examples=12, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        @given(case=strategy)
        def run(case) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        run()
        count += 1
    return count


@pytest.mark.slow
def test_schemathesis_data_plane(data_server):
    assert _run_schemathesis(data_server.url) >= 15


@pytest.mark.slow
def test_schemathesis_control_plane(control_server, control_token):
    assert _run_schemathesis(control_server.url, {"Authorization": f"Bearer {control_token}"}) >= 3
