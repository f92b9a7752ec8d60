"""A deployment's ``request_timeout`` reaches the model servers that run it: local replicas
through their settings file, Kubernetes pods through their environment; a longer one than the
gateway's is refused where it is written."""

from __future__ import annotations

import pytest

from inferd.config import ServerSettings
from inferd.control.apply_plan import fingerprint
from inferd.control.replicas.launch import server_settings
from inferd.deploy import K8sOptions, render
from inferd.settings_file import load_settings
from inferd.spec.loading import SpecError, parse_spec
from inferd.spec.model import Spec

DOCUMENT = """\
apiVersion: inferd.dev/v1
kind: Stack
gateway: {request_timeout: 10s}
deployments:
  - name: fraud
    request_timeout: 250ms
    versions:
      - {name: v1, model: fraud:v1}
"""


def _spec(document: str = DOCUMENT) -> Spec:
    return parse_spec(document, "inferd.yaml")


def test_local_replicas_get_the_deployment_timeout() -> None:
    spec = _spec()
    (deployment,) = spec.deployments
    assert deployment.request_timeout == 0.25
    served = ServerSettings.model_validate(server_settings(deployment, 30.0))
    assert served.request_timeout_for("fraud") == 0.25
    unset = _spec(DOCUMENT.replace("    request_timeout: 250ms\n", "")).deployments[0]
    assert "request_timeout_s" not in server_settings(unset, 30.0)
    assert fingerprint(deployment, deployment.versions[0]) != fingerprint(unset, unset.versions[0])


def test_kubernetes_pods_get_the_deployment_timeout() -> None:
    objects = render(_spec(), K8sOptions(registry="registry.example.com"))
    (workload,) = [o for o in objects if o["kind"] == "Deployment"]
    (server,) = workload["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in server["env"]}
    assert load_settings(ServerSettings, environ=env).request_timeout_s == 0.25


def test_a_timeout_longer_than_the_gateway_is_refused_at_its_line() -> None:
    with pytest.raises(SpecError) as caught:
        _spec(DOCUMENT.replace("request_timeout: 250ms", "request_timeout: 1m"))
    (problem,) = caught.value.problems
    assert (problem.line, problem.path) == (6, "deployments[0].request_timeout")
    assert "longer than gateway.request_timeout (10 s)" in problem.message


def test_a_language_model_deployment_bounds_its_generations() -> None:
    """The server-wide default does not apply to generations (docs/llm.md "Deadlines"), so an
    LLM deployment's ``request_timeout`` is written as its models' own, which does."""
    llm = DOCUMENT.replace(
        "    request_timeout: 250ms\n", "    request_timeout: 5s\n    llm: {max_num_seqs: 2}\n"
    ).replace(
        "model: fraud:v1}",
        "model: chat:v1}\n      - {name: v2, model: chat-next:v2}\n"
        "    traffic: {weights: {v1: 50, v2: 50}}",
    )
    (deployment,) = _spec(llm).deployments
    served = ServerSettings.model_validate(server_settings(deployment, 30.0))
    assert served.generation_timeout_for("chat") == 5.0
    assert served.generation_timeout_for("chat-next") == 5.0
    assert served.request_timeout_for("chat") == 5.0
