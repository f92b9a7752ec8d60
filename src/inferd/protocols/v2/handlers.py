"""Request handlers for the Open Inference Protocol v2 REST endpoints.

Handlers only translate: they decode the wire format, call the data plane, and encode the answer.
Errors are raised as :mod:`inferd.errors` exceptions and mapped to statuses by the HTTP layer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

import orjson

from inferd.config import LimitSettings
from inferd.errors import (
    InferdError,
    InvalidArgument,
    ModelNotFound,
    NotFound,
    Unavailable,
    Unsupported,
)
from inferd.protocols.http import Handler, Request, Response, Router, error_response, json_response
from inferd.protocols.http.messages import response_for_error
from inferd.protocols.offload import Decoder
from inferd.protocols.repository import check_unload, load_reference
from inferd.protocols.v2.codec import HEADER_LENGTH, decode_request, load_json
from inferd.protocols.v2.documents import (
    index_document,
    model_document,
    server_document,
    statistics_document,
)
from inferd.protocols.v2.encoding import JSON_ONLY, encode_response, wants_binary
from inferd.protocols.v2.openapi import build_document
from inferd.serving.types import DataPlane, InferRequest, InferResponse, Parameters

#: Media types an inference body may declare; anything else (a pickle type, multipart) is 415.
#: ``x-www-form-urlencoded`` is what ``curl -d`` sends by default; the body is still parsed as JSON.
ACCEPTED_MEDIA_TYPES = frozenset(
    {
        "application/json",
        "application/octet-stream",
        "text/plain",
        "application/x-www-form-urlencoded",
    }
)
BINARY = b"application/octet-stream"
PROMETHEUS_TEXT = b"text/plain; version=0.0.4; charset=utf-8"
#: Protocol extensions this transport adds whatever the data plane reports.
REST_EXTENSIONS = ("binary_tensor_data",)


def media_type_refusal(request: Request) -> Response | None:
    """415 for a body in a media type the protocol does not speak."""
    content_type = request.headers.get("content-type")
    if content_type is None or content_type in ACCEPTED_MEDIA_TYPES:  # the usual: exactly one
        return None
    media = content_type.split(";", 1)[0].strip().lower()
    if media in ACCEPTED_MEDIA_TYPES:
        return None
    return error_response(415, f"unsupported media type {media!r}; send application/json")


def json_body(request: Request) -> dict[str, object]:
    """An optional JSON-object body (empty means ``{}``)."""
    return json_object(request.body)


def json_object(body: bytes | bytearray) -> dict[str, object]:
    """An optional JSON object (empty means ``{}``)."""
    if not body.strip():
        return {}
    doc = load_json(body)
    if not isinstance(doc, dict):
        raise InvalidArgument("the request body must be a JSON object")
    return doc


def model_readiness(dataplane: DataPlane, name: str, version: str | None = None) -> Response:
    """``{"name", "ready"}``: 200 when ready, 503 when not (with Retry-After when no version of
    the model is ready to serve), 404 for an unknown model or version (v2 and KServe v1)."""
    try:
        dataplane.model_metadata(name, version)  # NotFound for an unknown model or version
    except Unavailable as exc:
        # Known but with no version ready: not ready, answered in the readiness shape.
        response = response_for_error(exc)  # 503 and its Retry-After
        response.body = orjson.dumps({"name": name, "ready": False})
        return response
    ready = dataplane.model_ready(name, version)
    return json_response({"name": name, "ready": ready}, 200 if ready else 503)


def refuse_model_config(dataplane: DataPlane, name: str) -> None:
    """Triton's ``GET /v2/models/{m}[/versions/{v}]/config`` reaches the metadata route with
    ``name`` ``m/config`` (a name may hold ``/``); when ``m`` (at ``v``) is served, say that
    the extension is not, rather than that ``m/config`` is not found."""
    model, _, last = name.rpartition("/")
    if last != "config" or not model:
        return
    base, versions, version = model.rpartition("/versions/")
    model, version_or_none = (base, version) if versions else (model, None)
    try:
        dataplane.model_metadata(model, version_or_none)
    except NotFound:
        return
    except Unavailable:
        pass  # served, though not ready now
    raise Unsupported(
        "Triton's model configuration extension (GET …/config) is not supported: inferd has "
        f"no model configuration; GET /v2/models/{model} gives the model's inputs and outputs"
    )


def _parses(request: Request) -> bool:
    """Whether decoding parses the whole body: binary tensors are views of it, so only a body
    without the binary extension is parsed through."""
    return HEADER_LENGTH not in request.headers


class V2Handlers:
    """The data-plane endpoints, bound to one data plane and one set of limits."""

    def __init__(
        self, dataplane: DataPlane, limits: LimitSettings, metrics: Callable[[], bytes]
    ) -> None:
        self.dataplane = dataplane
        self.limits = limits
        self.metrics = metrics
        self.decoder = Decoder(limits)

    async def live(self, request: Request) -> Response:
        live = self.dataplane.live()
        return json_response({"live": live}, 200 if live else 503)

    async def ready(self, request: Request) -> Response:
        ready = self.dataplane.ready()
        return json_response({"ready": ready}, 200 if ready else 503)

    async def server_metadata(self, request: Request) -> Response:
        return json_response(server_document(self.dataplane.server_metadata(), REST_EXTENSIONS))

    async def model_metadata(self, request: Request) -> Response:
        name, version = request.params["model"], request.params.get("version")
        try:
            info = self.dataplane.model_metadata(name, version)
        except ModelNotFound:
            refuse_model_config(self.dataplane, name)
            raise
        return json_response(model_document(info))

    async def model_ready(self, request: Request) -> Response:
        return model_readiness(
            self.dataplane, request.params["model"], request.params.get("version")
        )

    def infer_head(self, request: Request) -> Response | None:
        """What an inference request's head alone refuses, before its body is read (its client
        waits for ``100 Continue``): a media type not spoken (415), an unknown model or version
        (404, raised and counted as :meth:`infer` counts it)."""
        refusal = media_type_refusal(request)
        if refusal is None:
            self.dataplane.input_check(request.params["model"], request.params.get("version"))
        return refusal

    async def infer(self, request: Request) -> Response:
        refusal = media_type_refusal(request)
        if refusal is not None:
            return refusal
        body = request.body
        parses = HEADER_LENGTH not in request.headers  # _parses(request), without the call
        if self.decoder.inline(len(body), parses=parses):  # most: no coroutine
            # _job's call made directly: no partial to build and unpack (1 µs a request in
            # bench/path_cpu.py); the off-loop paths need the partial (it is pickled).
            model, version = request.params["model"], request.params.get("version")
            check = self.dataplane.input_check(model, version)  # a 404 is counted there
            try:
                infer_request = decode_request(
                    model, version, body, request.headers, self.limits,
                    check=check, received=time.monotonic(),
                )  # fmt: skip
            except InferdError:
                self.dataplane.refused(model, version)
                raise
        else:
            infer_request = await self.decode(request)
        return self.encode(infer_request, await self.dataplane.infer(infer_request))

    async def decode(self, request: Request) -> InferRequest:
        """The inference request a v2 body holds (decoded off the loop when large; a big JSON
        body in the decoding process). A refused body is counted as the model's client error
        (:meth:`DataPlane.refused`)."""
        model, version = request.params["model"], request.params.get("version")
        job = partial(
            decode_request, model=model, version=version, headers=request.headers,
            limits=self.limits, check=self.dataplane.input_check(model, version),
            received=time.monotonic(),
        )  # fmt: skip
        try:
            return await self.decoder.decode_body(job, request.body, parses=_parses(request))
        except InferdError:
            self.dataplane.refused(model, version)
            raise

    @staticmethod
    def encode(request: InferRequest, result: InferResponse) -> Response:
        """The v2 response: JSON, or JSON and binary tensors when the request asked for them."""
        plain = not request.parameters and request.outputs is None  # wants_binary's, inline
        encoded = encode_response(result, JSON_ONLY if plain else wants_binary(request))
        if encoded.json_length is None:
            return Response(200, encoded.body)
        return Response(
            200,
            encoded.body,
            BINARY,
            [(b"inference-header-content-length", str(encoded.json_length).encode())],
        )

    async def stats(self, request: Request) -> Response:
        name, version = request.params.get("model"), request.params.get("version")
        return json_response(statistics_document(self.dataplane.model_stats(name, version)))

    async def prometheus(self, request: Request) -> Response:
        return Response(200, self.metrics(), PROMETHEUS_TEXT)


class RepositoryHandlers:
    """The repository extension: the control plane's mutating routes (index, load, unload)."""

    def __init__(self, dataplane: DataPlane) -> None:
        self.dataplane = dataplane

    async def index(self, request: Request) -> Response:
        ready = _only(json_body(request), "ready").get("ready", False)
        if not isinstance(ready, bool):
            raise InvalidArgument("'ready' must be a boolean")
        return json_response(index_document(self.dataplane.repository_index(ready_only=ready)))

    async def load(self, request: Request) -> Response:
        reference = load_reference(_body_parameters(request))
        await self.dataplane.load(request.params["model"], reference)
        return json_response({})

    async def unload(self, request: Request) -> Response:
        check_unload(_body_parameters(request))
        await self.dataplane.unload(request.params["model"])
        return json_response({})


def _body_parameters(request: Request) -> Parameters:
    """The ``parameters`` object of an optional JSON body (none: empty). The body holds nothing
    else: a key beside it (``config`` one level too high) would be ignored, so it is refused."""
    parameters = _only(json_body(request), "parameters").get("parameters")
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):
        raise InvalidArgument("'parameters' must be an object")
    return parameters


def _only(body: dict[str, object], field: str) -> dict[str, object]:
    """``body``, refused when it holds a key besides ``field``: a misspelt or misplaced field
    (``ready_only``, ``config`` one level too high) would be ignored, so it is named."""
    unknown = sorted(key for key in body if key != field)
    if unknown:
        raise InvalidArgument(f"unknown field {unknown[0]!r} in the body: it takes only {field!r}")
    return body


def openapi_handler(router: Router, title: str) -> Handler:
    """Serve the OpenAPI document of ``router``, built once on first request (when every route,
    this one included, is registered)."""
    cache: list[bytes] = []

    async def serve(request: Request) -> Response:
        if not cache:
            cache.append(orjson.dumps(build_document(router, title)))
        return Response(200, cache[0])

    return serve


#: The control plane's routes, which the data-plane listener answers by saying where they are.
CONTROL_PATHS = (
    "/v2/repository/index",
    "/v2/repository/models/{model}/load",
    "/v2/repository/models/{model}/unload",
)


async def control_only(request: Request) -> Response:
    """A repository route asked of the data-plane listener: 404 saying where it is served (the
    gRPC data listener says the same), not a bare "no route"."""
    raise NotFound(
        "repository operations (index, load, unload) are served only on the control-plane "
        "listener (inferd serve --control-port, 127.0.0.1:8082 by default), with its token "
        "as 'Authorization: Bearer' (see $INFERD_HOME/server-<port>.token)"
    )
