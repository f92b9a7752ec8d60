"""The Kubernetes renderer: the spec as standard cluster resources.

``render(spec, options)`` is the whole contract — a pure function from a validated
:class:`~inferd.spec.model.Spec` and :class:`K8sOptions` to Kubernetes objects (plain dicts),
deterministic to the byte once dumped with :func:`to_stream` or :func:`write_base`. One module per
resource family (``workloads``, ``services``, ``autoscaling``, ``gateway_api``, ``monitoring``,
``kserve``, ``gpu``, ``argo`` for ``--progressive argo``, ``canary`` for the two steps of a
canary); ``gpu_plan`` checks GPU capacity (``gpu_capacity``: what one GPU can take,
``mig``: NVIDIA's MIG tables per product, ``llm_fit``: which GPUs hold a language model).
"""

from inferd.deploy.k8s_options import K8sOptions, Placement, load_options
from inferd.deploy.kustomize import to_stream, write_base
from inferd.deploy.render import render

__all__ = ["K8sOptions", "Placement", "load_options", "render", "to_stream", "write_base"]
