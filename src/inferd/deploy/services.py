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
    deployment: DeploymentSpec, version: VersionSpec, spec: Spec, options: K8sOptions
) -> Obj:
    """The Service of one version (named like its Deployment)."""
    body = {
        "type": "ClusterIP",
        "selector": selector_labels(spec, deployment.name, version.name),
        "ports": [
            {
                "name": "http",
                "port": HTTP_PORT,
                "targetPort": "http",
                "protocol": "TCP",
                "appProtocol": "http",
            },
            {
                "name": "grpc",
                "port": GRPC_PORT,
                "targetPort": "grpc",
                "protocol": "TCP",
                "appProtocol": "kubernetes.io/h2c",
            },
        ],
    }
    name = workload_name(deployment, version)
    meta = metadata(name, options, labels(spec, deployment.name, version.name, model=version.model))
    return obj("v1", "Service", meta, body)
