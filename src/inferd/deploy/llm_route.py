"""The HTTPRoute of a vLLM deployment: OpenAI paths under ``/openai/{deployment}``.

vLLM answers OpenAI's API (``/v1/chat/completions``, ``/v1/completions``, ``/v1/embeddings``,
``/v1/models``) and picks the model from the request body's ``model`` field, which the Gateway
API cannot read. So a deployment gets a path of its own, rewritten to vLLM's: a client's
``base_url`` is ``http://GATEWAY/openai/{deployment}/v1``. Rules, in precedence order:

1. ``/openai/{deployment}/versions/{version}`` → the pods serving that version (an adapter's
   base);
2. each A/B header route → the pods serving its version;
3. ``/openai/{deployment}`` → the base versions' Services, each weighted by its own weight plus
   its adapters' (their requests reach the base's pods), with a ``RequestMirror`` to a shadow
   that is a base version.

Inside a pod, the body's ``model`` picks base or adapter (:func:`.vllm_serve.served_names`,
:func:`.vllm_serve.lora_name`): the split between a base and its adapters is the clients', not the
route's, and a shadow that is an adapter would receive the primary's ``model`` — both are
named in the route's not-rendered annotation.
"""

from __future__ import annotations

from inferd.deploy.gateway_api import (
    MAX_RULES,
    header_match,
    mirror_filter,
    path_prefix,
    route_object,
    route_version,
)
from inferd.deploy.k8s_options import K8sOptions
from inferd.deploy.objects import HTTP_PORT, Obj, workload_name
from inferd.deploy.vllm_serve import bases, serving
from inferd.errors import InvalidArgument
from inferd.spec.model import DeploymentSpec, Spec, VersionSpec

PREFIX = "/openai"


def _rewrite() -> Obj:
    return {
        "type": "URLRewrite",
        "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}},
    }


def _backend(deployment: DeploymentSpec, version: VersionSpec, weight: int | None = None) -> Obj:
    ref: Obj = {"name": workload_name(deployment, serving(deployment, version)), "port": HTTP_PORT}
    if weight is not None:
        ref["weight"] = weight
    return ref


def http_route(deployment: DeploymentSpec, spec: Spec, options: K8sOptions) -> Obj:
    """The HTTPRoute of one vLLM deployment (named after it)."""
    base = f"{PREFIX}/{deployment.name}"
    notes: list[str] = []
    rules: list[Obj] = []
    for version in deployment.versions:
        if serving(deployment, version).replicas == 0:
            continue
        rules.append(
            {
                "matches": [path_prefix(f"{base}/versions/{version.name}")],
                "filters": [_rewrite()],
                "backendRefs": [_backend(deployment, version)],
            }
        )
    for route in deployment.traffic.header_routes:
        target = route_version(deployment, route.version)
        rules.append(
            {
                "matches": [header_match(base, route)],
                "filters": [_rewrite()],
                "backendRefs": [_backend(deployment, target)],
            }
        )
    rules.append(_split_rule(deployment, base, notes))
    if len(rules) > MAX_RULES:
        raise InvalidArgument(
            f"deployment {deployment.name!r} needs {len(rules)} HTTPRoute rules; the limit is "
            f"{MAX_RULES}"
        )
    return route_object(deployment, spec, options, rules, *notes)


def _split_rule(deployment: DeploymentSpec, base: str, notes: list[str]) -> Obj:
    weights = deployment.weights()
    per_base: dict[str, int] = {}
    adapter_weights: list[str] = []
    for version in deployment.versions:
        weight = weights.get(version.name, 0)
        target = serving(deployment, version)
        per_base[target.name] = per_base.get(target.name, 0) + weight
        if target is not version and weight > 0:
            adapter_weights.append(f"{version.name} {weight}% (served by {target.name}'s pods)")
    if adapter_weights:
        notes.append(
            "traffic.weights of adapter versions: "
            + ", ".join(adapter_weights)
            + ": one vLLM pod serves a base and its adapters, so the request's model field "
            "picks the adapter, not the route"
        )
    backends = [
        _backend(deployment, v, per_base[v.name])
        for v in bases(deployment)
        if per_base.get(v.name, 0) > 0
    ]
    rule: Obj = {"matches": [path_prefix(base)], "filters": [_rewrite()], "backendRefs": backends}
    shadow = deployment.traffic.shadow
    if shadow is not None:
        target = route_version(deployment, shadow)
        if target.adapter_of is not None:
            notes.append(
                f"traffic.shadow ({shadow}): an adapter version shares its base's pods, and a "
                "mirrored request keeps the primary's model field; compare adapters with inferd "
                "up's gateway"
            )
        else:
            rule["filters"] = [*rule["filters"], mirror_filter(deployment, target)]
    return rule
