"""The OpenAPI document is accurate for the generation routes with language models behind
them: schemathesis finds no 5xx, and every answer (200s included, which a data plane without
language models never gives) conforms to the document."""

from __future__ import annotations

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


def _generation_route(path: str) -> bool:
    # KServe v1's ``/v1/models/{m}:predict`` and ``:explain`` share the prefix, not the API.
    return (path.startswith("/v1/") and ":" not in path) or "/generate" in path


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
    assert len(tested) == 9, tested
