"""One logged payload, and the CloudEvent it becomes.

The event types are KServe's payload logger's, so tools written for it (message dumpers,
Knative triggers filtering on ``type``) read inferd's events unchanged: a request is
``org.kubeflow.serving.inference.request``, its response
``org.kubeflow.serving.inference.response``, and the two share one ``id``.

Extension attributes (lower-case, as CloudEvents requires):

=====================  ===================================================================
``deployment``         the deployment the client named
``version``            the version that served it (the spec's version name)
``endpoint``           the path the client called, e.g. ``/v2/models/fraud/infer`` (gRPC:
                       ``/inference.GRPCInferenceService/ModelInfer``)
``inferenceservicename``  the deployment again, under the name KServe's logger gives it
``status``             responses only: the HTTP status the client got
``headerlength``       a binary-tensor body's JSON header length
                       (``Inference-Header-Content-Length``), needed to split the body
``truncated``          ``"true"`` when the payload was cut to ``max_payload_size``
=====================  ===================================================================

Events are built off the request path, by the sink's worker (:mod:`.writer`); the request
path only captures a :class:`Payload`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

import orjson
from cloudevents.core.bindings.http import HTTPMessage, to_binary, to_structured
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

REQUEST_TYPE: Final = "org.kubeflow.serving.inference.request"
RESPONSE_TYPE: Final = "org.kubeflow.serving.inference.response"
#: ``source`` of every event, followed by the deployment's name.
SOURCE_PREFIX: Final = "/inferd/gateway/deployments/"
JSON: Final = "application/json"
OCTET_STREAM: Final = "application/octet-stream"
#: gRPC calls' messages (ModelInferRequest, ModelInferResponse), serialized.
PROTOBUF: Final = "application/x-protobuf"
_FORMAT = JSONFormat()


@dataclass(frozen=True, slots=True)
class Payload:
    """A request or response body as the gateway saw it, cut to the size cap."""

    kind: Literal["request", "response"]
    #: Shared by a request and its response.
    id: str
    #: Wall-clock time (``time.time()``) the request arrived, or the response was sent.
    time: float
    deployment: str
    version: str
    endpoint: str
    content_type: str
    body: bytes
    truncated: bool = False
    #: The JSON header's length of a binary-tensor body; None for a JSON body.
    header_length: int | None = None
    #: Responses: the status the client got.
    status: int | None = None


def cloud_event(payload: Payload, *, parse_json: bool) -> CloudEvent:
    """The CloudEvent of ``payload``. With ``parse_json``, a whole JSON body becomes the
    event's ``data`` as a JSON value (readable in structured mode and JSONL); otherwise the
    bytes are the data (the body in binary mode, ``data_base64`` in structured)."""
    attributes: dict[str, Any] = {
        "id": payload.id,
        "type": REQUEST_TYPE if payload.kind == "request" else RESPONSE_TYPE,
        "source": SOURCE_PREFIX + payload.deployment,
        "time": datetime.fromtimestamp(payload.time, UTC),
        "datacontenttype": payload.content_type,
        "deployment": payload.deployment,
        "version": payload.version,
        "endpoint": payload.endpoint,
        "inferenceservicename": payload.deployment,
    }
    if payload.status is not None:
        attributes["status"] = payload.status
    if payload.header_length is not None:
        attributes["headerlength"] = payload.header_length
    if payload.truncated:
        attributes["truncated"] = "true"
    data: dict[str, Any] | bytes = payload.body
    if parse_json and payload.content_type == JSON and not payload.truncated:
        data = _json_object(payload.body) or payload.body
    return CloudEvent(attributes, data)


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def binary_message(payload: Payload) -> HTTPMessage:
    """Binary content mode: attributes as ``ce-`` headers, the body as it was."""
    return to_binary(cloud_event(payload, parse_json=False), _FORMAT)


def structured_message(payload: Payload) -> HTTPMessage:
    """Structured content mode: the whole event as ``application/cloudevents+json``."""
    return to_structured(cloud_event(payload, parse_json=True), _FORMAT)


def json_line(payload: Payload) -> bytes:
    """The structured event on one line, newline-terminated (a JSONL record)."""
    return _FORMAT.write(cloud_event(payload, parse_json=True)) + b"\n"
