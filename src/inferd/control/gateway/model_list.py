"""OpenAI's ``GET /v1/models`` through the gateway: the deployments a client can call with
OpenAI's API — those serving a language model (a base or an adapter), not the classic ones
(ONNX, scikit-learn, …), which have no OpenAI route — each by its deployment's name, with vLLM's
``root``, ``parent`` and ``max_model_len`` as its replica lists them.

The gateway does not know a model's kind by itself: it asks one ready replica of each
deployment's main version (:func:`.routing.metadata_version`) for its own ``/v1/models``, which
lists the language models it serves (an ``inferd serve`` of a classic model lists none; an
engine, llama-server or vLLM, lists its one). What it learns is kept per store reference and
digest, so a deployment scaled to zero stays listed as it was; one never seen with a ready
replica (starting, at zero since the gateway started) is listed with ``root``, ``parent`` and
``max_model_len`` null, since a request may still call it. An adapter an engine lists without
``max_model_len`` (vLLM lists a LoRA module without it) has its base's, from the same listing.

An adapter's ``parent`` is the base's store reference (``llm@sha256:…``) as its replica lists
it, or the name of the deployment that serves that base (by digest), as ``inferd serve`` names
a base it serves by its id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import orjson

from inferd.control.gateway.keepalive import UpstreamFailed, UpstreamTimeout
from inferd.control.gateway.proxy import Proxy
from inferd.control.gateway.routing import metadata_version
from inferd.control.gateway.upstream import UpstreamRequest
from inferd.control.replicas.topology import DeploymentRoute, Topology, VersionRoute
from inferd.protocols.openai.answers import ModelObject

log = logging.getLogger(__name__)

#: How long one replica may take to list its models.
LIST_TIMEOUT_S = 2.0
#: Kinds remembered (per store reference and digest); forgotten all at once past it.
_MAX_KNOWN = 1024
_OWNER = "inferd"


@dataclass(frozen=True, slots=True)
class Listed:
    """What a replica's ``/v1/models`` said of the model it serves: vLLM's root, parent and
    max_model_len."""

    root: str | None
    parent: str | None
    max_model_len: int | None


#: A version's key: the model name, store reference and digest its replicas serve.
_Key = tuple[str, str, str | None]


class ModelLister:
    """Builds the gateway's ``/v1/models`` document (see the module docstring)."""

    def __init__(self, topology: Callable[[], Topology], proxy: Proxy) -> None:
        self._topology = topology
        self._proxy = proxy
        #: Per version key: a language model's listing, or None for a model that is none.
        self._known: dict[_Key, Listed | None] = {}

    async def models(self, created: int) -> list[ModelObject]:
        """The model objects of the deployments serving a language model, by name."""
        routes = sorted(self._topology().deployments.values(), key=lambda d: d.name)
        mains = [metadata_version(route) for route in routes]
        found = await asyncio.gather(*[self._listed(v) for v in mains])
        by_digest = {v.digest: r.name for r, v in zip(routes, mains, strict=True) if v and v.digest}
        data: list[ModelObject] = []
        for route, listed in zip(routes, found, strict=True):
            if listed is False:
                continue  # a classic model: not callable with OpenAI's API
            root = parent = length = None
            if isinstance(listed, Listed):
                root, parent = listed.root, _parent(listed.parent, by_digest, route)
                length = listed.max_model_len
            entry: ModelObject = {
                "id": route.name, "object": "model", "created": created, "owned_by": _OWNER,
                "root": root, "parent": parent, "max_model_len": length,
            }  # fmt: skip
            data.append(entry)
        return data

    async def _listed(self, version: VersionRoute | None) -> Listed | Literal[False] | None:
        """What ``version`` serves: its listing, False when it is no language model, None when
        not known (no ready replica answered, and never seen)."""
        if version is None:
            return None
        key = (version.model, version.reference, version.digest)
        if key not in self._known:
            if not version.ready_replicas:
                return None
            replica = version.ready_replicas[0]
            request = UpstreamRequest("GET", "/v1/models", (("accept", "application/json"),))
            try:
                answer = await self._proxy.pool(replica).request(request, LIST_TIMEOUT_S)
            except (UpstreamFailed, UpstreamTimeout) as exc:
                log.warning("listing the models of replica %s: %s", replica.id, exc)
                return None
            listed = _entry(answer.status, answer.body, version.model)
            if listed is None:
                return None
            if len(self._known) >= _MAX_KNOWN:
                self._known.clear()
            self._known[key] = listed if isinstance(listed, Listed) else None
        known = self._known[key]
        return False if known is None else known


def _entry(status: int, body: bytes, model: str) -> Listed | Literal[False] | None:
    """The listing of ``model`` in a replica's ``/v1/models`` answer: False when it lists no
    model (a classic model's replica, or one that has no such route: 404), None when the answer
    says nothing (an error, not JSON)."""
    if status == 404:
        return False
    if status != 200:
        return None
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, list):
        return None
    entries = [e for e in data if isinstance(e, dict)]
    if not entries:
        return False
    # inferd serve lists the model by its name; an engine by the name it was started with.
    entry = next((e for e in entries if e.get("id") == model), entries[0])
    root, parent = _text(entry.get("root")), _text(entry.get("parent"))
    length = _length(entry)
    if length is None and parent is not None:  # an adapter: its base's, listed beside it
        base = next((e for e in entries if parent in (e.get("id"), e.get("root"))), {})
        length = _length(base)
    return Listed(root, parent, length)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _length(entry: dict[str, object]) -> int | None:
    """An entry's ``max_model_len``: a positive whole number, else None."""
    value = entry.get("max_model_len")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _parent(parent: str | None, by_digest: dict[str, str], route: DeploymentRoute) -> str | None:
    """An adapter's parent: the deployment serving its base (by the digest in the store
    reference ``llm@sha256:…``), else the reference as the replica listed it."""
    if parent is None:
        return None
    serving = by_digest.get(parent.partition("@")[2])
    return serving if serving is not None and serving != route.name else parent
