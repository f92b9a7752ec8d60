"""Monitoring: one Prometheus-operator ServiceMonitor for the whole stack.

The ServiceMonitor selects every version's Service by the stack label and scrapes ``/metrics``
on the ``http`` port; the operator adds ``namespace``, ``service`` and ``pod`` target labels,
which the autoscaling queries (:mod:`inferd.deploy.autoscaling`) filter on. It also gives the
servers' series the labels ``inferd up``'s gateway adds to the same series, so one alert or
dashboard query reads both:

- ``deployment``, copied from the pod's ``inferd.dev/deployment`` label;
- ``inferd_version``, the spec's version the series belong to: the pod's ``inferd.dev/version``
  label, and on a series with a ``version`` that one. A pod serves its version as
  ``{model}:{version}`` (:func:`~inferd.deploy.objects.local_reference`), so the server's
  ``version`` is the spec's name even where the pod label is not: an Argo Rollout's canary pods
  carry the stable version's label (its selector picks them by it) while serving the candidate.
"""

from __future__ import annotations

from inferd.deploy.k8s_options import K8sOptions
from inferd.deploy.objects import COMPONENT, LABEL_STACK, Obj, labels, metadata, obj
from inferd.deploy.rules.promql import SPEC_VERSION
from inferd.spec.model import Spec

SCRAPE_INTERVAL = "15s"
#: The pod's ``inferd.dev/…`` labels as Kubernetes service discovery names them.
_POD_LABEL_DEPLOYMENT = "__meta_kubernetes_pod_label_inferd_dev_deployment"
_POD_LABEL_VERSION = "__meta_kubernetes_pod_label_inferd_dev_version"


def _copy(source: str, target: str) -> Obj:
    return {"action": "replace", "sourceLabels": [source], "targetLabel": target}


def service_monitor(spec: Spec, options: K8sOptions) -> Obj:
    """The ServiceMonitor of the stack (named after it)."""
    body = {
        "selector": {
            "matchLabels": {
                LABEL_STACK: spec.metadata.name,
                "app.kubernetes.io/component": COMPONENT,
            }
        },
        "endpoints": [
            {
                "port": "http",
                "path": "/metrics",
                "interval": SCRAPE_INTERVAL,
                "scheme": "http",
                "relabelings": [
                    _copy(_POD_LABEL_DEPLOYMENT, "deployment"),
                    _copy(_POD_LABEL_VERSION, SPEC_VERSION),
                ],
                # A series without a version keeps the pod's (the regex needs a value).
                "metricRelabelings": [{**_copy("version", SPEC_VERSION), "regex": "(.+)"}],
            }
        ],
    }
    meta = metadata(spec.metadata.name, options, labels(spec))
    return obj("monitoring.coreos.com/v1", "ServiceMonitor", meta, body)
