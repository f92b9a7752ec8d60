"""The KServe ServingRuntime's container says when a pod is ready: the server's readiness.

``inferd serve`` binds its port before it loads the model (so liveness answers at once), and a
container without a readiness probe is ready once its port accepts connections (Knative's
default TCP probe, or none at all in raw deployment mode): every new or scaled-from-zero pod
took requests while its model was still loading, each answered 503.
"""

from __future__ import annotations

from inferd.deploy.workloads import HEALTH_READY
from inferd.spec.model import Spec

from .conftest import render_with, validate


def test_the_runtime_is_ready_when_its_model_is(quickstart: Spec) -> None:
    objects = render_with(quickstart, target="kserve", registry="registry.example.com")
    runtime = next(o for o in objects if o["kind"] == "ServingRuntime")
    validate(runtime)
    container = runtime["spec"]["containers"][0]
    probe = container["readinessProbe"]["httpGet"]
    assert probe["path"] == HEALTH_READY
    # Knative accepts a probe on the container's own port only.
    assert [probe["port"]] == [p["containerPort"] for p in container["ports"]]
