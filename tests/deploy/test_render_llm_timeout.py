"""``request_timeout`` of a language model served by inferd reaches its pods' generations.

The server bounds a generation only by the model's own ``models.NAME.request_timeout_s`` (its
server-wide ``request_timeout_s`` is sized for one inference), which is what ``inferd up``
writes for such replicas; the pods got only the server-wide one, so their generations ran
unbounded. Checked by reading the rendered environment with the server's own settings loader.
"""

from __future__ import annotations

from typing import Any

import pytest

from inferd.config import ServerSettings
from inferd.deploy.objects import OMITTED_ANNOTATION
from inferd.settings_file import load_settings
from inferd.spec.loading import parse_spec

from .conftest import render_with, validate

SPEC = """apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: bot
    llm: {max_num_seqs: 4}
    request_timeout: 20s
    versions:
      - {name: v1, model: "chat:v1"}
registry: registry.example.com
"""


def _rendered(kind: str, target: str, registry: str) -> dict[str, Any]:
    spec = parse_spec(SPEC.replace("registry.example.com", registry))
    objects = render_with(spec, target=target)
    for o in objects:
        validate(o)
    return next(o for o in objects if o["kind"] == kind)


def _settings(env: list[dict[str, str]]) -> ServerSettings:
    return load_settings(ServerSettings, environ={e["name"]: e["value"] for e in env})


def test_the_pods_bound_the_generations_of_the_model_they_serve() -> None:
    deployment = _rendered("Deployment", "plain", "registry.example.com")
    server = deployment["spec"]["template"]["spec"]["containers"][0]
    served = server["args"][1].partition(":")[0]
    assert served == "chat"
    assert _settings(server["env"]).generation_timeout_for(served) == 20
    assert OMITTED_ANNOTATION not in deployment["metadata"].get("annotations", {})


def test_kserve_bounds_the_generations_of_the_inference_service() -> None:
    """KServe's runtime serves the model under the InferenceService's name."""
    service = _rendered("InferenceService", "kserve", "registry.example.com/team")
    env = service["spec"]["predictor"]["model"]["env"]
    assert _settings(env).generation_timeout_for("bot") == 20


@pytest.mark.parametrize("registry", ["registry.example.com/team"])
def test_a_model_name_no_environment_variable_can_carry_is_named(registry: str) -> None:
    """``team/chat`` holds a '/', which Kubernetes before 1.32 refuses in a variable's name:
    the timeout is named as not rendered instead of a Deployment that could not be applied."""
    deployment = _rendered("Deployment", "plain", registry)
    server = deployment["spec"]["template"]["spec"]["containers"][0]
    assert all("/" not in e["name"] for e in server["env"])
    note = deployment["metadata"]["annotations"][OMITTED_ANNOTATION]
    assert "request_timeout (20 s)" in note
    assert "team/chat" in note
