"""Gateway API: one HTTPRoute per deployment — the traffic split, A/B routes and the mirror.

The route gives cluster clients the same URLs as the local gateway: ``/v2/models/{deployment}/…``
(and KServe v1's ``/v1/models/{deployment}[:predict]``). Its rules, in the order the Gateway
API's precedence makes them win:

1. ``/v2/models/{deployment}/versions/{version}`` → that version's Service only;
2. each A/B header route → its version;
3. everything else → every version with a weight, weighted as in ``traffic.weights``, with a
   ``RequestMirror`` filter copying each request to the shadow version (whose answers the
   gateway discards).

A replica serves its model under the model's own name, which need not be the deployment's; a
``URLRewrite`` filter then replaces the path prefix, as the local gateway does. KServe v1 paths
are matched exactly, and a rewrite needs a prefix match, so they are routed only when no rewrite
is needed. Sticky routing by header has no standard Gateway API field (session persistence is
experimental), so it is not rendered and the route's ``inferd.dev/not-rendered`` annotation
says so.

A language model served by inferd's pods is asked through OpenAI's API, which takes the model
from the body: as for vLLM (:mod:`.llm_route`), its versions are also routed under
``/openai/{deployment}`` (rewritten to ``/``; a client's ``base_url`` is
``http://GATEWAY/openai/{deployment}/v1``), with the same per-version paths, header routes,
split and mirror, by a second HTTPRoute, ``{deployment}-openai``.
"""

from __future__ import annotations

from urllib.parse import quote

from inferd.deploy.k8s_options import K8sOptions
from inferd.deploy.objects import (
    HTTP_PORT,
    Obj,
    labels,
    metadata,
    note,
    obj,
    remote_reference,
    workload_name,
)
from inferd.errors import InvalidArgument
from inferd.spec.model import DeploymentSpec, HeaderRoute, Spec, VersionSpec

GATEWAY_GROUP = "gateway.networking.k8s.io"
#: Where a language model's OpenAI API is routed: ``/openai/{deployment}``, by a route named
#: ``{deployment}-openai``.
OPENAI_PREFIX = "/openai"
OPENAI_SUFFIX = "-openai"
#: The Gateway API's limit on rules in one HTTPRoute.
MAX_RULES = 16
#: The not-rendered note of a deployment with traffic.sticky_header.
_STICKY_NOTE = (
    "traffic.sticky_header: the Gateway API has no standard sticky routing (session "
    "persistence is experimental)"
)


def _model_prefix(version: VersionSpec, options: K8sOptions) -> str:
    return "/v2/models/" + quote(remote_reference(version, options).name, safe="")


def _backend(
    deployment: DeploymentSpec,
    version: VersionSpec,
    options: K8sOptions,
    *,
    weight: int | None,
    rewrite: bool,
) -> Obj:
    ref: Obj = {"name": workload_name(deployment, version), "port": HTTP_PORT}
    if weight is not None:
        ref["weight"] = weight
    if rewrite:
        ref["filters"] = [_rewrite(_model_prefix(version, options))]
    return ref


def _rewrite(prefix: str) -> Obj:
    return {
        "type": "URLRewrite",
        "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": prefix}},
    }


def path_prefix(path: str) -> Obj:
    """A match on every path under ``path``."""
    return {"path": {"type": "PathPrefix", "value": path}}


def header_match(base: str, route: HeaderRoute) -> Obj:
    """A match on paths under ``base`` that carry an A/B route's header value."""
    return {
        **path_prefix(base),
        "headers": [{"type": "Exact", "name": route.header, "value": route.value}],
    }


def mirror_filter(deployment: DeploymentSpec, target: VersionSpec) -> Obj:
    """A filter copying each request to ``target``'s Service (whose answers are discarded)."""
    return {
        "type": "RequestMirror",
        "requestMirror": {
            "backendRef": {"name": workload_name(deployment, target), "port": HTTP_PORT}
        },
    }


def route_object(
    deployment: DeploymentSpec, spec: Spec, options: K8sOptions, rules: list[Obj], *notes: str
) -> Obj:
    """The HTTPRoute named after ``deployment``, attached to the options' Gateway, with
    ``rules``; ``notes`` and an unrendered sticky header go into its not-rendered annotation."""
    parent: Obj = {"group": GATEWAY_GROUP, "kind": "Gateway", "name": options.gateway}
    if options.gateway_namespace is not None:
        parent["namespace"] = options.gateway_namespace
    meta = metadata(deployment.name, options, labels(spec, deployment.name))
    route = obj(f"{GATEWAY_GROUP}/v1", "HTTPRoute", meta, {"parentRefs": [parent], "rules": rules})
    if deployment.traffic.sticky_header is not None:
        notes = (*notes, _STICKY_NOTE)
    return note(route, *notes)


def http_route(deployment: DeploymentSpec, spec: Spec, options: K8sOptions) -> Obj:
    """The HTTPRoute of one deployment (named after it)."""
    base = f"/v2/models/{deployment.name}"
    rules: list[Obj] = []
    for version in deployment.versions:
        if version.replicas == 0:
            continue
        rules.append(
            {
                "matches": [path_prefix(f"{base}/versions/{version.name}")],
                "backendRefs": [_backend(deployment, version, options, weight=None, rewrite=False)],
                "filters": [_rewrite(_model_prefix(version, options))],
            }
        )
    needs_rewrite = any(_model_prefix(v, options) != base for v in deployment.versions)
    for route in deployment.traffic.header_routes:
        target = route_version(deployment, route.version)
        rules.append(
            {
                "matches": [header_match(base, route)],
                "backendRefs": [
                    _backend(deployment, target, options, weight=None, rewrite=needs_rewrite)
                ],
            }
        )
    rules.append(_split_rule(deployment, options, base, needs_rewrite))
    _check_rules(deployment, rules)
    return route_object(deployment, spec, options, rules)


def openai_route_name(deployment: DeploymentSpec) -> str:
    return f"{deployment.name}{OPENAI_SUFFIX}"


def openai_route(deployment: DeploymentSpec, spec: Spec, options: K8sOptions) -> Obj | None:
    """A language model's second HTTPRoute, ``{deployment}-openai``: its OpenAI paths (a route
    of their own, so that each protocol has the Gateway API's rule limit); None for others."""
    if deployment.llm is None:
        return None
    rules = _openai_rules(deployment)
    _check_rules(deployment, rules)
    route = route_object(deployment, spec, options, rules, *_openai_names(deployment, options))
    route["metadata"]["name"] = openai_route_name(deployment)
    return route


def _check_rules(deployment: DeploymentSpec, rules: list[Obj]) -> None:
    if len(rules) > MAX_RULES:
        raise InvalidArgument(
            f"deployment {deployment.name!r} needs {len(rules)} HTTPRoute rules (one per "
            f"version with replicas, one per header route, one split); the limit is {MAX_RULES}"
        )


def _openai_rules(deployment: DeploymentSpec) -> list[Obj]:
    """A language model's OpenAI paths: per version, per header route, then the split."""
    base = f"{OPENAI_PREFIX}/{deployment.name}"
    to_root = _rewrite("/")

    def to(version: VersionSpec, weight: int | None = None) -> Obj:
        ref: Obj = {"name": workload_name(deployment, version), "port": HTTP_PORT}
        return ref if weight is None else {**ref, "weight": weight}

    rules: list[Obj] = [
        {
            "matches": [path_prefix(f"{base}/versions/{v.name}")],
            "filters": [to_root],
            "backendRefs": [to(v)],
        }
        for v in deployment.versions
        if v.replicas > 0
    ]
    for route in deployment.traffic.header_routes:
        target = route_version(deployment, route.version)
        rules.append(
            {
                "matches": [header_match(base, route)],
                "filters": [to_root],
                "backendRefs": [to(target)],
            }
        )
    weights = deployment.weights()
    split: Obj = {
        "matches": [path_prefix(base)],
        "filters": [to_root],
        "backendRefs": [to(v, weights[v.name]) for v in deployment.versions if weights[v.name] > 0],
    }
    if deployment.traffic.shadow is not None:
        target = route_version(deployment, deployment.traffic.shadow)
        split["filters"] = [to_root, mirror_filter(deployment, target)]
    return [*rules, split]


def _openai_names(deployment: DeploymentSpec, options: K8sOptions) -> list[str]:
    """A note when a request's ``model`` must differ from the deployment's name: the pods
    answer to the model's own name."""
    names = sorted({remote_reference(v, options).name for v in deployment.versions})
    if names == [deployment.name]:
        return []
    return [
        f"model field {deployment.name!r} (inferd up's gateway): OpenAI requests under "
        f"{OPENAI_PREFIX}/{deployment.name} name the model {' or '.join(map(repr, names))}, "
        "as its pods serve it"
    ]


def _split_rule(deployment: DeploymentSpec, options: K8sOptions, base: str, rewrite: bool) -> Obj:
    matches = [path_prefix(base)]
    if not rewrite:
        v1 = f"/v1/models/{deployment.name}"
        matches += [
            {"path": {"type": "Exact", "value": v1}},
            {"path": {"type": "Exact", "value": f"{v1}:predict"}},
        ]
    weights = deployment.weights()
    backends = [
        _backend(deployment, v, options, weight=weights[v.name], rewrite=rewrite)
        for v in deployment.versions
        if weights.get(v.name, 0) > 0
    ]
    rule: Obj = {"matches": matches, "backendRefs": backends}
    shadow = deployment.traffic.shadow
    if shadow is not None:
        target = route_version(deployment, shadow)
        rule["filters"] = [mirror_filter(deployment, target)]
    return rule


def route_version(deployment: DeploymentSpec, name: str) -> VersionSpec:
    """The version a traffic setting names."""
    found = deployment.version(name)
    if found is None:  # the spec's own rules make this unreachable for a validated spec
        raise InvalidArgument(f"{name!r} is not a version of {deployment.name!r}")
    return found
