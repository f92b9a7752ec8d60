"""The OpenAPI document is accurate for the generation routes with language models behind
them (vLLM's ``/tokenize`` and ``/detokenize`` too): schemathesis finds no 5xx, and every answer
(200s included, which a data plane without language models never gives) conforms to the
document."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks as st_checks

from inferd.protocols.v2.routes import OPENAPI_PATH
from protocols.conftest import Running

CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_schema_conformance,
]


TOKEN_ROUTES = ("/tokenize", "/detokenize")


def _generation_route(path: str) -> bool:
    # KServe v1's ``/v1/models/{m}:predict`` and ``:explain`` share the prefix, not the API.
    v1 = path.startswith("/v1/") and ":" not in path
    return v1 or "/generate" in path or path in TOKEN_ROUTES


def test_the_token_routes_are_documented(llm_server: Running) -> None:
    doc = httpx.get(llm_server.url + OPENAPI_PATH).json()
    schemas = doc["components"]["schemas"]
    for path, body, answer in (
        ("/tokenize", "TokenizeRequest", "Tokenized"),
        ("/detokenize", "DetokenizeRequest", "Detokenized"),
    ):
        post = doc["paths"][path]["post"]
        assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
            "/" + body
        )
        ok = post["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok["$ref"].endswith("/" + answer)
        assert {body, answer} <= set(schemas)
        assert post["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith(
            "/OpenAIError"
        )
    assert set(schemas["TokenizeRequest"]["properties"]) >= {"model", "prompt", "messages"}


@pytest.mark.slow
def test_schemathesis_generation_routes(llm_server: Running) -> None:
    schema = schemathesis.openapi.from_url(llm_server.url + OPENAPI_PATH)
    schema.config.base_url = llm_server.url
    tested: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if not _generation_route(operation.path):
            continue

        @settings(
            max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        @given(case=operation.as_strategy())
        def run(case: schemathesis.Case) -> None:
            # The scripted model's name and version, so bodies reach the model and answer 200.
            if "model" in case.path_parameters:
                case.path_parameters["model"] = "parrot"
            if "version" in case.path_parameters:
                case.path_parameters["version"] = "3"
            if isinstance(case.body, dict) and "model" in case.body:
                case.body["model"] = "parrot"
            case.call_and_validate(checks=CHECKS)

        run()
        tested.append(f"{operation.method} {operation.path}")
    assert len(tested) == 11, tested
