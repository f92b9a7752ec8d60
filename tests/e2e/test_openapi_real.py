"""schemathesis against the OpenAPI document a real ``inferd serve`` publishes, real data plane
and real models behind it: no 5xx, and every answer conforms to the document."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks as st_checks

pytestmark = pytest.mark.slow

CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_schema_conformance,
]


def test_schemathesis_against_inferd_serve(served):
    schema = schemathesis.openapi.from_url(served.url + "/v2/openapi.json", headers={})
    schema.config.base_url = served.url
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=30, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        @given(case=operation.as_strategy())
        def run(case) -> None:
            # Aim at a model that exists so generated bodies reach the real data plane's
            # validation, not only the 404 for an unknown name.
            if case.path_parameters and "model" in case.path_parameters:
                case.path_parameters["model"] = "fraud"
                if "version" in case.path_parameters:
                    case.path_parameters["version"] = "v1"
            case.call_and_validate(checks=CHECKS)

        run()
        operations += 1
    assert operations >= 15
