"""Monitoring: one Prometheus-operator ServiceMonitor for the whole stack.

The ServiceMonitor selects every version's Service by the stack label and scrapes ``/metrics``
on the ``http`` port; the operator adds ``namespace``, ``service`` and ``pod`` target labels,
which the autoscaling queries (:mod:`inferd.deploy.autoscaling`) filter on. It also copies the
pod's ``inferd.dev/deployment`` label into a ``deployment`` target label, the label ``inferd up``'s
gateway adds to the same series, so one alert or dashboard query reads both.
"""

from __future__ import annotations

from inferd.deploy.k8s_options import K8sOptions
from inferd.deploy.objects import COMPONENT, LABEL_STACK, Obj, labels, metadata, obj
from inferd.spec.model import Spec

SCRAPE_INTERVAL = "15s"
#: The pod's ``inferd.dev/deployment`` label as Kubernetes service discovery names it.
_POD_LABEL_DEPLOYMENT = "__meta_kubernetes_pod_label_inferd_dev_deployment"


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
                    {
                        "action": "replace",
                        "sourceLabels": [_POD_LABEL_DEPLOYMENT],
                        "targetLabel": "deployment",
                    }
                ],
            }
        ],
    }
    meta = metadata(spec.metadata.name, options, labels(spec))
    return obj("monitoring.coreos.com/v1", "ServiceMonitor", meta, body)
