"""Services: one ClusterIP Service per version, in front of that version's pods.

A Service per version (not per deployment) is what lets the Gateway API split traffic by weight
and mirror it: each ``backendRef`` of an HTTPRoute names one version's Service. Its ``http``
port is also what the ServiceMonitor scrapes.
"""

from __future__ import annotations

from inferd.deploy.k8s_options import K8sOptions
from inferd.deploy.objects import (
    GRPC_PORT,
    HTTP_PORT,
    Obj,
    labels,
    metadata,
    obj,
    selector_labels,
    workload_name,
)
from inferd.spec.model import DeploymentSpec, Spec, VersionSpec


def service(
    deployment: DeploymentSpec,
    version: VersionSpec,
    spec: Spec,
    options: K8sOptions,
    *,
    grpc: bool = True,
) -> Obj:
    """The Service of one version (named like its Deployment): its ``http`` port and, unless
    ``grpc`` is false (vLLM's pods serve only HTTP), its ``grpc`` port."""
    ports = [_port("http", HTTP_PORT, "http")]
    if grpc:
        ports.append(_port("grpc", GRPC_PORT, "kubernetes.io/h2c"))
    body = {
        "type": "ClusterIP",
        "selector": selector_labels(spec, deployment.name, version.name),
        "ports": ports,
    }
    name = workload_name(deployment, version)
    meta = metadata(name, options, labels(spec, deployment.name, version.name, model=version.model))
    return obj("v1", "Service", meta, body)


def _port(name: str, port: int, app_protocol: str) -> Obj:
    """A TCP port that targets the container port of the same name."""
    return {
        "name": name,
        "port": port,
        "targetPort": name,
        "protocol": "TCP",
        "appProtocol": app_protocol,
    }
