"""A client's request as a replica receives it, and a replica's answer as the client receives it.

The gateway forwards bodies untouched: only the path changes (the deployment's name becomes the
replica's model name, a version segment is dropped) and hop-by-hop headers are left behind
(:data:`.upstream.HOP_BY_HOP`). The one exception is a model's metadata or readiness document
(:func:`named`), whose ``name`` (and OpenAI ``id``) goes back to the deployment's name; an
engine replica (llama-server, vLLM) has no such document, and :func:`engine_model` answers it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import NoReturn
from urllib.parse import quote

import orjson

from inferd.control.gateway.routing import NO_REPLICA_RETRY_S, metadata_versions
from inferd.control.gateway.upstream import HOP_BY_HOP, UpstreamResponse
from inferd.control.replicas.topology import DeploymentRoute, VersionRoute
from inferd.errors import Unavailable
from inferd.protocols.http import Request, Response, json_response
from inferd.protocols.http.messages import response_for_error
from inferd.protocols.http.router import Handler

#: Response headers the gateway writes itself, not copied from the replica's answer.
_NOT_COPIED = HOP_BY_HOP | {"content-type"}
#: Upstream paths worked out, by (client path, model): requests reach here only for routes of
#: deployments and versions that exist, so few paths recur; bounded all the same.
_PATHS: dict[tuple[str, str], str] = {}
_MAX_PATHS = 4096


def upstream_path(request: Request, version: VersionRoute) -> str:
    """The client's path as the replica knows it: the deployment's name replaced by the
    replica's model name, and any version segment dropped (a replica serves one version, and
    its version label need not be the deployment's version name). The query string is kept."""
    key = (request.path, version.model)
    upstream = _PATHS.get(key)
    if upstream is None:
        if len(_PATHS) >= _MAX_PATHS:
            _PATHS.clear()
        upstream = _PATHS[key] = _rewrite(request.path, version.model)
    return f"{upstream}?{request.query}" if request.query else upstream


def _rewrite(path: str, model_name: str) -> str:
    model = quote(model_name, safe="")
    path = "/" + path.strip("/")  # as the router reads it: ``//v2/…`` (a base URL ending in /)
    if path.startswith("/v1/"):
        # /v1/models/{m} and /v1/models/{m}:predict
        suffix = ":predict" if path.endswith(":predict") else ""
        return f"/v1/models/{model}{suffix}"
    parts = path.split("/")  # ["", "v2", "models", m, ("versions", v,)? rest...]
    rest = parts[4:]
    if rest[:1] == ["versions"]:
        rest = rest[2:]
    return "/".join(["", "v2", "models", model, *rest])


def to_client(answer: UpstreamResponse) -> Response:
    """The replica's response as the gateway's, byte for byte (framing headers redone)."""
    headers = answer.headers
    content_type = headers.get("content-type", "application/json").encode("latin-1")
    copied = [
        (name.encode("latin-1"), value.encode("latin-1"))
        for name, value in headers.items()
        if name not in _NOT_COPIED
    ]
    return Response(answer.status, answer.body, content_type, copied)


def named(answer: UpstreamResponse, route: DeploymentRoute, asked: str | None) -> UpstreamResponse:
    """A replica's metadata or readiness answer with the model named as clients name it: the
    deployment (the replica names the store reference's model, which the gateway does not
    route), and its ``versions`` (the replica lists its store tag) the deployment's a client
    may name (:func:`.routing.metadata_versions`). Anything but a JSON object passes unchanged."""
    if answer.status != 200 or not answer.body.startswith(b"{"):
        return answer
    try:
        document = orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        return answer
    if not isinstance(document, dict):
        return answer
    # "id": an OpenAI model object (a language model's replica)
    wanted: dict[str, object] = {k: route.name for k in ("name", "id") if k in document}
    if "versions" in document:
        wanted["versions"] = metadata_versions(route, asked)
    if all(document[k] == v for k, v in wanted.items()):
        return answer
    document.update(wanted)
    return dataclasses.replace(answer, body=orjson.dumps(document))


def engine_model(deployment: str, version: VersionRoute, created: int) -> Response | None:
    """``GET /v1/models/{model}`` of a version an engine serves (llama-server, vLLM; they have
    no such route): OpenAI's model object beside KServe's readiness, as ``inferd serve``
    answers it, 503 while no replica is ready. None for ``inferd serve`` replicas, which
    answer it themselves."""
    if not version.replicas or any(r.engine is None for r in version.replicas):
        return None
    ready = bool(version.ready_replicas)
    document = {"name": deployment, "ready": ready, "id": deployment, "object": "model",
                "created": created, "owned_by": "inferd"}  # fmt: skip
    return json_response(document, 200 if ready else 503)


def answered_here(
    request: Request, deployment: str, version: VersionRoute, created: int
) -> Response | None:
    """A metadata or readiness request the gateway answers itself (None: the replica answers):
    ``GET /v1/models/{m}`` of an engine's version (:func:`engine_model`), and the readiness
    (``…/ready``, KServe v1's ``/v1/models/{m}``) of a version with no ready replica: 503
    ``{"name", "ready": false}`` and Retry-After, as ``inferd serve`` answers a model not ready."""
    parts = request.path.strip("/").split("/")
    kserve = parts[0] == "v1"
    engine = engine_model(deployment, version, created) if kserve else None
    if engine is not None or version.ready_replicas:
        return engine
    if not kserve and (parts[-1] != "ready" or len(parts) not in (4, 6)):
        return None  # metadata: the replica's error (no ready replica), as inferd serve's
    why = Unavailable(f"{deployment!r} is not ready", retry_after=NO_REPLICA_RETRY_S)
    return dataclasses.replace(
        response_for_error(why), body=orjson.dumps({"name": deployment, "ready": False})
    )


def refusing(refuse: Callable[[Request], NoReturn]) -> Handler:
    """The handler of a route whose every request ``refuse`` refuses (it raises); ``refuse`` is
    its head check too, so a client waiting for ``100 Continue`` is refused before its body."""

    async def handler(request: Request) -> Response:
        refuse(request)

    return handler
