"""KServe v1: ``POST /v1/models/{m}:predict`` with ``{"instances": [...]}`` and readiness.
``:explain`` is answered 501: inferd serves no explainers.

v1 has no tensor names or datatypes on the wire: instances feed the model's first input (its
datatype from the signature), and the first output comes back as ``predictions``. Bodies are
decoded as v2's are: inline when small, else off the event loop (:mod:`inferd.protocols.offload`).
"""

from __future__ import annotations

import base64
import contextlib
from functools import partial

import numpy as np

from inferd.config import LimitSettings
from inferd.errors import InferdError, InvalidArgument, Unavailable, Unsupported
from inferd.protocols.http import Request, Response, json_response
from inferd.protocols.offload import Decoder
from inferd.protocols.tensor_wire import declare, from_json
from inferd.protocols.v2.handlers import json_object, media_type_refusal, model_readiness
from inferd.serving.types import DataPlane, InferRequest, Tensor


def _v1_string(item: object) -> object:
    """A BYTES element in v1's JSON: text, or ``{"b64": …}`` for bytes that are not UTF-8 (the
    TensorFlow Serving convention KServe v1 follows), never text with U+FFFD in their place."""
    if not isinstance(item, bytes):
        return str(item)
    try:
        return item.decode("utf-8")
    except UnicodeDecodeError:
        return {"b64": base64.b64encode(item).decode("ascii")}


#: :func:`_v1_string` over an object array, keeping its shape.
_V1_STRINGS = np.frompyfunc(_v1_string, 1, 1)


def decode_instances(
    body: bytes | bytearray, *, model: str, name: str, datatype: str, limits: LimitSettings
) -> InferRequest:
    """A v1 body → the request that feeds its ``instances`` to the model's first input, ``name``
    of ``datatype``."""
    instances = json_object(body).get("instances")
    if not isinstance(instances, list) or not instances:
        raise InvalidArgument("'instances' must be a non-empty list")
    try:
        shape = np.shape(np.asarray(instances, dtype=object))
    except ValueError:
        raise InvalidArgument("'instances' is ragged: rows of different lengths") from None
    tensor = declare(name, datatype, list(shape), limits)
    data = from_json(tensor, instances, limits, "'instances'")
    return InferRequest(model=model, inputs=[Tensor(name, datatype, data)])


class V1Handlers:
    def __init__(self, dataplane: DataPlane, limits: LimitSettings) -> None:
        self.dataplane = dataplane
        self.limits = limits
        self.decoder = Decoder(limits)

    async def model_ready(self, request: Request) -> Response:
        return model_readiness(self.dataplane, request.params["model"])

    def predict_head(self, request: Request) -> Response | None:
        """What a prediction's head alone refuses, before its body is read (its client waits
        for ``100 Continue``): a media type not spoken (415), an unknown model (404)."""
        refusal = media_type_refusal(request)
        if refusal is None:
            with contextlib.suppress(Unavailable):  # served, though not ready now
                self.dataplane.model_metadata(request.params["model"])
        return refusal

    async def predict(self, request: Request) -> Response:
        refusal = media_type_refusal(request)
        if refusal is not None:
            return refusal
        name = request.params["model"]
        inputs = self.dataplane.model_metadata(name).inputs  # 404 before the body is parsed
        if not inputs:  # a language model: its requests are text, not instances
            raise Unsupported(
                f"model {name!r} takes no input tensors; a language model answers "
                f"POST /v2/models/{name}/generate and OpenAI's /v1/chat/completions"
            )
        spec = inputs[0]
        job = partial(
            decode_instances, model=name, name=spec.name, datatype=spec.datatype,
            limits=self.limits,
        )  # fmt: skip
        try:
            infer_request = await self.decoder.decode_body(job, request.body, parses=True)
        except InferdError:
            self.dataplane.refused(name)
            raise
        result = await self.dataplane.infer(infer_request)
        first = result.outputs[0]
        if first.datatype == "BYTES":  # row by row, as numbers are
            strings = np.asarray(_V1_STRINGS(first.data), dtype=object)
            return json_response({"predictions": strings.tolist()})
        return json_response({"predictions": first.data.tolist()})

    async def explain(self, request: Request) -> Response:
        name = request.params["model"]
        self.dataplane.model_metadata(name)  # 404 for an unknown model
        raise Unsupported(
            f"model {name!r} has no explainer: inferd serves predictions "
            f"(POST /v1/models/{name}:predict, /v2/models/{name}/infer), not explanations"
        )
