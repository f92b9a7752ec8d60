"""gateway.auth and gateway.tls are inferd up's: a render says on each route that the cluster's
Gateway must do that job, and renders nothing else differently."""

from __future__ import annotations

import pytest

from inferd.deploy.k8s_options import K8sOptions
from inferd.deploy.objects import omissions
from inferd.deploy.render import render
from inferd.spec.loading import parse_spec

SPEC = """\
apiVersion: inferd.dev/v1
kind: Stack
registry: registry.example.com/ml
gateway:
{access}deployments:
  - name: fraud
    versions: [{{name: v1, model: "fraud:v1"}}]
  - name: churn
    versions: [{{name: v1, model: "churn:v1"}}]
"""
ACCESS = "  auth: {keys_file: keys.json}\n  tls: {cert_file: c.pem, key_file: k.pem}\n"


@pytest.mark.parametrize(
    ("target", "kind"), [("plain", "HTTPRoute"), ("kserve", "InferenceService")]
)
def test_keys_and_tls_are_noted_on_every_route(target: str, kind: str) -> None:
    options = K8sOptions(target=target)  # type: ignore[arg-type]
    secured = render(parse_spec(SPEC.format(access=ACCESS)), options)
    plain = render(parse_spec(SPEC.format(access="  port: 8080\n")), options)
    assert omissions(secured) == [
        f"{kind}/{name}: gateway.auth and gateway.tls (inferd up's gateway): in a cluster, "
        "the Gateway's listener terminates TLS and authenticates"
        for name in ("fraud", "churn")
    ]
    assert omissions(plain) == []
    strip = [{**o, "metadata": {k: v for k, v in o["metadata"].items() if k != "annotations"}}
             for o in secured]  # fmt: skip
    assert strip == [
        {**o, "metadata": {k: v for k, v in o["metadata"].items() if k != "annotations"}}
        for o in plain
    ]


@pytest.mark.parametrize(
    ("target", "kind"), [("plain", "HTTPRoute"), ("kserve", "InferenceService")]
)
def test_payload_logging_is_noted_on_the_logged_deployments_route(target: str, kind: str) -> None:
    logged = SPEC.format(access="  port: 8080\n").replace(
        '    versions: [{name: v1, model: "fraud:v1"}]\n',
        '    versions: [{name: v1, model: "fraud:v1"}]\n'
        "    logging: {sink: {file: {path: fraud.jsonl}}}\n",
    )
    objects = render(parse_spec(logged), K8sOptions(target=target))  # type: ignore[arg-type]
    assert omissions(objects) == [
        f"{kind}/fraud: logging (payload logging by inferd up's gateway): in a cluster, "
        "configure the InferenceService's logger or the Gateway's access logging"
    ]


@pytest.mark.parametrize(
    ("target", "kind"), [("plain", "HTTPRoute"), ("kserve", "InferenceService")]
)
def test_tracing_is_noted_on_every_route(target: str, kind: str) -> None:
    """The spec's tracing exports spans of inferd up's gateway and replicas; nothing in a render
    does, so a cluster is never taken to be traced because the spec is."""
    traced = SPEC.format(access='  tracing: {endpoint: "http://otel.example:4318"}\n')
    objects = render(parse_spec(traced), K8sOptions(target=target))  # type: ignore[arg-type]
    assert omissions(objects) == [
        f"{kind}/{name}: gateway.tracing (spans of inferd up's gateway and replicas): the "
        "server image has no inferd[tracing], so pods export no spans; trace at the Gateway"
        for name in ("fraud", "churn")
    ]
