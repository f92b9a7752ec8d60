"""``GET /v1/models`` and ``GET /v1/models/{model}``: the language models served.

``/v1/models/{model}`` is also KServe v1's readiness route. A READY language model is answered
with OpenAI's model object and KServe's ``name`` and ``ready`` together, so both kinds of client
read it; any other model gets KServe's readiness answer (200, or 503 while not ready).
"""

from __future__ import annotations

from inferd.protocols.http import Handler, Request, Response, json_response
from inferd.protocols.openai.answers import ModelList, ModelObject, ServedModel
from inferd.serving.types import DataPlane, ListedModel

OWNER = "inferd"


def model_object(served: ListedModel) -> ModelObject:
    return {"id": served.model, "object": "model", "created": served.created, "owned_by": OWNER}


class ModelHandlers:
    """``kserve_ready`` answers ``/v1/models/{model}`` for models that are not language models."""

    def __init__(self, dataplane: DataPlane, kserve_ready: Handler) -> None:
        self.dataplane = dataplane
        self.kserve_ready = kserve_ready

    async def list(self, request: Request) -> Response:
        document: ModelList = {
            "object": "list",
            "data": [model_object(served) for served in self.dataplane.generators()],
        }
        return json_response(document)

    async def retrieve(self, request: Request) -> Response:
        name = request.params["model"]
        for served in self.dataplane.generators():
            if served.model == name:
                document: ServedModel = {"name": name, "ready": True, **model_object(served)}
                return json_response(document)
        return await self.kserve_ready(request)
