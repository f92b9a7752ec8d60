"""KServe v1: ``POST /v1/models/{m}:predict`` with ``{"instances": [...]}`` and readiness.

v1 has no tensor names or datatypes on the wire: instances feed the model's first input (its
datatype from the signature), and the first output comes back as ``predictions``.
"""

from __future__ import annotations

import numpy as np

from inferd.config import LimitSettings
from inferd.errors import InvalidArgument
from inferd.protocols.http import Request, Response, json_response
from inferd.protocols.tensor_wire import declare, from_json
from inferd.protocols.v2.handlers import json_body, media_type_refusal
from inferd.serving.types import DataPlane, InferRequest, Tensor


class V1Handlers:
    def __init__(self, dataplane: DataPlane, limits: LimitSettings) -> None:
        self.dataplane = dataplane
        self.limits = limits

    async def model_ready(self, request: Request) -> Response:
        name = request.params["model"]
        self.dataplane.model_metadata(name)  # 404 for an unknown model
        ready = self.dataplane.model_ready(name)
        return json_response({"name": name, "ready": ready}, 200 if ready else 503)

    async def predict(self, request: Request) -> Response:
        refusal = media_type_refusal(request)
        if refusal is not None:
            return refusal
        name = request.params["model"]
        instances = json_body(request).get("instances")
        if not isinstance(instances, list) or not instances:
            raise InvalidArgument("'instances' must be a non-empty list")
        spec = self.dataplane.model_metadata(name).inputs[0]
        tensor = self._tensor(spec.name, spec.datatype, instances)
        result = await self.dataplane.infer(InferRequest(model=name, inputs=[tensor]))
        first = result.outputs[0]
        if first.datatype == "BYTES":
            predictions = [
                v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
                for v in first.data.reshape(-1).tolist()
            ]
            return json_response({"predictions": predictions})
        return json_response({"predictions": first.data.tolist()})

    def _tensor(self, name: str, datatype: str, instances: list[object]) -> Tensor:
        try:
            shape = np.shape(np.asarray(instances, dtype=object))
        except ValueError:
            raise InvalidArgument("'instances' is ragged: rows of different lengths") from None
        tensor = declare(name, datatype, list(shape), self.limits)
        return Tensor(name, datatype, from_json(tensor, instances, self.limits, "'instances'"))
