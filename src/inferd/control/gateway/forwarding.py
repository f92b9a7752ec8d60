"""A client's request as a replica receives it, and a replica's answer as the client receives it.

The gateway forwards bodies untouched: only the path changes (the deployment's name becomes the
replica's model name, a version segment is dropped) and hop-by-hop headers are left behind
(:data:`.upstream.HOP_BY_HOP`).
"""

from __future__ import annotations

from urllib.parse import quote

from inferd.control.gateway.upstream import UpstreamResponse, forwardable
from inferd.control.replicas.topology import VersionRoute
from inferd.protocols.http import Request, Response


def upstream_path(request: Request, version: VersionRoute) -> str:
    """The client's path as the replica knows it: the deployment's name replaced by the
    replica's model name, and any version segment dropped (a replica serves one version, and
    its version label need not be the deployment's version name). The query string is kept."""
    model = quote(version.model, safe="")
    path = request.path
    if path.startswith("/v1/"):
        # /v1/models/{m} and /v1/models/{m}:predict
        suffix = ":predict" if path.endswith(":predict") else ""
        upstream = f"/v1/models/{model}{suffix}"
    else:
        parts = path.split("/")  # ["", "v2", "models", m, ("versions", v,)? rest...]
        rest = parts[4:]
        if rest[:1] == ["versions"]:
            rest = rest[2:]
        upstream = "/".join(["", "v2", "models", model, *rest])
    return f"{upstream}?{request.query}" if request.query else upstream


def to_client(answer: UpstreamResponse) -> Response:
    """The replica's response as the gateway's, byte for byte (framing headers redone)."""
    content_type = answer.headers.get("content-type", "application/json").encode("latin-1")
    headers = [
        (name.encode("latin-1"), value.encode("latin-1"))
        for name, value in forwardable(answer.headers)
        if name != "content-type"
    ]
    return Response(answer.status, answer.body, content_type, headers)
