"""``GET /v1/models`` and ``GET /v1/models/{model}``: the language models served, and the model
ids a request's ``model`` may give.

A model's name stands for its default version. A model serving more than one version (``inferd
serve llm:base-1 llm:support-v3``: the base and an adapter) lists each of them too, as
``name:version`` (``llm:support-v3``), which a request may give to reach that version (a model's
name holds no ``:``). Answers name the model as the request gave it. Each id carries vLLM's
``root`` (the store reference its version was served from) and ``parent`` (an adapter's base:
the base's id here, else its store reference ``llm@sha256:…``; null for a model that is no
adapter), so a client tells a LoRA adapter from a base as on vLLM.

``/v1/models/{model}`` is also KServe v1's readiness route. A READY language model is answered
with OpenAI's model object and KServe's ``name`` and ``ready`` together, so both kinds of client
read it; any other model gets KServe's readiness answer (200, or 503 while not ready).
"""

from __future__ import annotations

from inferd.errors import ModelNotFound
from inferd.protocols.http import Handler, Request, Response, json_response
from inferd.protocols.openai.answers import ModelList, ModelObject, ServedModel
from inferd.protocols.text_wire import InvalidField
from inferd.serving.generation import ServedGenerator
from inferd.serving.stats import VersionState
from inferd.serving.types import DataPlane, ListedVersion

OWNER = "inferd"


def model_object(
    model_id: str, created: int, version: ListedVersion | None, listed_as: dict[str, str]
) -> ModelObject:
    """The model object of ``model_id``, serving ``version``: its ``root`` and ``parent`` as
    vLLM lists a LoRA module's, the base found by digest among ``listed_as`` (digest → id)."""
    root = parent = length = None
    if version is not None:
        root, length = version.reference, version.max_model_len
        if version.base is not None:
            parent = listed_as.get(version.base.partition("@")[2], version.base)
    return {
        "id": model_id, "object": "model", "created": created, "owned_by": OWNER,
        "root": root, "parent": parent, "max_model_len": length,
    }  # fmt: skip


def model_id(model: str) -> tuple[str, str | None]:
    """The model and version a request's ``model`` names: ``llm`` (its default version) or
    ``llm:support-v3``."""
    name, colon, version = model.partition(":")
    if colon and not (name and version):
        raise InvalidField(
            "model", f"{model!r} names no model and version; give a name, or name:version"
        )
    return name, version if colon else None


def model_ids(dataplane: DataPlane) -> list[ModelObject]:
    """Every id a request's ``model`` may give: each language model's name, then, for one with
    more than one version ready, ``name:version`` for each of them. An adapter's ``parent`` is
    its base's id here (``name:version`` where listed so), else the base's store reference."""
    listed = dataplane.generators()
    versions: dict[str, list[str]] = {served.model: [] for served in listed}
    for row in dataplane.repository_index(ready_only=True):
        if row.name in versions and row.state is VersionState.READY:
            versions[row.name].append(row.version)
    ids: list[tuple[str, int, ListedVersion | None]] = []
    for served in listed:
        ids.append((served.model, served.created, served.versions[0] if served.versions else None))
        if len(versions[served.model]) > 1:
            known = {v.version: v for v in served.versions}
            ids += [
                (f"{served.model}:{version}", served.created, known.get(version))
                for version in sorted(versions[served.model])
            ]
    listed_as: dict[str, str] = {}
    for model_id, _, version in ids:
        if version is not None:
            current = listed_as.get(version.digest)
            if current is None or (":" in model_id and ":" not in current):
                listed_as[version.digest] = model_id
    return [model_object(*entry, listed_as) for entry in ids]


async def generator(dataplane: DataPlane, model: str) -> ServedGenerator:
    """The language model version a request's ``model`` names. An unknown version of a model
    served is a 404 naming the ids of its versions; an unknown name that is a version's (an
    adapter named as vLLM names a LoRA module: ``support-v3``) names that version's id."""
    name, version = model_id(model)
    try:
        return await dataplane.generator(name, version)
    except ModelNotFound as exc:
        if version is None:
            llms = {served.model for served in dataplane.generators()}
            rows = dataplane.repository_index(ready_only=True)
            ids = [f"{row.name}:{name}" for row in rows if row.version == name and row.name in llms]
            if ids:
                exc.message = (
                    f"{exc.message}; a version of that name is reached as {', '.join(ids)}"
                )
            raise
        rows = dataplane.repository_index(ready_only=True)
        known = [f"{name}:{row.version}" for row in rows if row.name == name]
        if known:
            exc.message = f"{exc.message}; its versions are reached as {', '.join(known)}"
        else:
            exc.message = f"{exc.message}; GET /v1/models lists the model ids served"
        raise


class ModelHandlers:
    """``kserve_ready`` answers ``/v1/models/{model}`` for models that are not language models."""

    def __init__(self, dataplane: DataPlane, kserve_ready: Handler) -> None:
        self.dataplane = dataplane
        self.kserve_ready = kserve_ready

    async def list(self, request: Request) -> Response:
        document: ModelList = {"object": "list", "data": model_ids(self.dataplane)}
        return json_response(document)

    async def retrieve(self, request: Request) -> Response:
        name = request.params["model"]
        for listed in model_ids(self.dataplane):
            if listed["id"] == name:
                document: ServedModel = {"name": name, "ready": True, **listed}
                return json_response(document)
        return await self.kserve_ready(request)
