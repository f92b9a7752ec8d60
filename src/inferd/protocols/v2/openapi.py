"""The OpenAPI 3 document, built from the route table so it describes exactly what is served.

Each route carries its operation object (:func:`operation`); :func:`build_document` adds the
path parameters it finds in the template and the shared component schemas below.
"""

from __future__ import annotations

import functools
import re
from typing import Any, cast

from pydantic import TypeAdapter

from inferd import __version__
from inferd.protocols.http import Router
from inferd.protocols.openai import answers as openai_answers
from inferd.protocols.openai import protocol as openai
from inferd.protocols.openai import tokens as openai_tokens
from inferd.protocols.v2.generate import GenerateRequest, GenerateResponse

_PARAM = re.compile(r"\{(\w+)\}")

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


_SCALAR: Schema = {"oneOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]}
_PARAMETERS: Schema = {"type": "object", "additionalProperties": _SCALAR}
_TENSOR_DATA: Schema = {"type": "array", "items": {}}
_SHAPE: Schema = {"type": "array", "items": {"type": "integer", "minimum": 0}}

SCHEMAS: dict[str, Schema] = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
    "Live": {"type": "object", "required": ["live"], "properties": {"live": {"type": "boolean"}}},
    "Ready": {
        "type": "object",
        "required": ["ready"],
        "properties": {"ready": {"type": "boolean"}},
    },
    "ModelReady": {
        "type": "object",
        "required": ["name", "ready"],
        "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}},
    },
    "ServerMetadata": {
        "type": "object",
        "required": ["name", "version", "extensions"],
        "properties": {
            "name": {"type": "string"},
            "version": {"type": "string"},
            "extensions": {"type": "array", "items": {"type": "string"}},
        },
    },
    "MetadataTensor": {
        "type": "object",
        "required": ["name", "datatype", "shape"],
        "properties": {
            "name": {"type": "string"},
            "datatype": {"type": "string"},
            "shape": {"type": "array", "items": {"type": "integer"}},
        },
    },
    "ModelMetadata": {
        "type": "object",
        "required": ["name", "platform", "inputs", "outputs"],
        "properties": {
            "name": {"type": "string"},
            "versions": {"type": "array", "items": {"type": "string"}},
            "platform": {"type": "string"},
            "inputs": {"type": "array", "items": _ref("MetadataTensor")},
            "outputs": {"type": "array", "items": _ref("MetadataTensor")},
        },
    },
    "RequestInput": {
        "type": "object",
        "required": ["name", "shape", "datatype"],
        "properties": {
            "name": {"type": "string"},
            "shape": _SHAPE,
            "datatype": {
                "type": "string",
                "enum": [
                    "BOOL",
                    "UINT8",
                    "UINT16",
                    "UINT32",
                    "UINT64",
                    "INT8",
                    "INT16",
                    "INT32",
                    "INT64",
                    "FP16",
                    "FP32",
                    "FP64",
                    "BYTES",
                ],
            },
            "parameters": _PARAMETERS,
            "data": _TENSOR_DATA,
        },
        # A tensor carries its values inline (``data``) or in the binary extension's body
        # (``parameters.binary_data_size``); one with neither, or with both, is refused with 400.
        "anyOf": [
            {"required": ["data"]},
            {
                "required": ["parameters"],
                "properties": {"parameters": {"required": ["binary_data_size"]}},
            },
        ],
    },
    "RequestOutput": {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string"}, "parameters": _PARAMETERS},
    },
    "InferenceRequest": {
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "id": {"type": "string"},
            "parameters": _PARAMETERS,
            "inputs": {"type": "array", "minItems": 1, "items": _ref("RequestInput")},
            "outputs": {"type": "array", "items": _ref("RequestOutput")},
        },
    },
    "ResponseOutput": {
        "type": "object",
        "required": ["name", "shape", "datatype"],
        "properties": {
            "name": {"type": "string"},
            "shape": _SHAPE,
            "datatype": {"type": "string"},
            "parameters": _PARAMETERS,
            "data": _TENSOR_DATA,
        },
    },
    "InferenceResponse": {
        "type": "object",
        "required": ["model_name", "outputs"],
        "properties": {
            "model_name": {"type": "string"},
            "model_version": {"type": "string"},
            "id": {"type": "string"},
            "parameters": _PARAMETERS,
            "outputs": {"type": "array", "items": _ref("ResponseOutput")},
        },
    },
    "ModelStats": {
        "type": "object",
        "required": ["model_stats"],
        "properties": {"model_stats": {"type": "array", "items": {"type": "object"}}},
    },
    "RepositoryIndexRequest": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
    "RepositoryIndex": {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string"},
                "version": {"type": "string"},
                "state": {"type": "string"},
                "reason": {"type": "string"},
            },
        },
    },
    # Any other load or unload parameter is refused with 501 (inferd.protocols.repository).
    "LoadRequest": {
        "type": "object",
        "properties": {
            "parameters": {
                "type": "object",
                "properties": {"reference": {"type": "string", "description": "e.g. fraud:v2"}},
                "additionalProperties": False,
            }
        },
    },
    "UnloadRequest": {
        "type": "object",
        "properties": {
            "parameters": {
                "type": "object",
                "properties": {
                    "unload_dependents": {
                        "type": "boolean",
                        "description": "accepted for Triton's clients; inferd models have none",
                    }
                },
                "additionalProperties": False,
            }
        },
    },
    "Empty": {"type": "object"},
    # One Server-Sent Event, as OpenAPI before 3.2 describes a text/event-stream answer.
    "ServerSentEvent": {
        "type": "object",
        "required": ["data"],
        "properties": {
            "data": {"type": "string", "description": "one JSON document (OpenAI: or [DONE])"},
            "event": {"type": "string"},
        },
    },
    "OpenAPIDocument": {"type": "object", "required": ["openapi", "paths"]},
    "V1PredictRequest": {
        "type": "object",
        "required": ["instances"],
        "properties": {"instances": {"type": "array", "minItems": 1, "items": {}}},
    },
    "V1PredictResponse": {
        "type": "object",
        "required": ["predictions"],
        "properties": {"predictions": {"type": "array", "items": {}}},
    },
}


def generated_schemas(*types: type) -> dict[str, Schema]:
    """OpenAPI 3.0 schemas of pydantic models and typed dicts, and of the types they hold, from
    the JSON Schema pydantic writes (the types that validate a body also describe it)."""
    schemas: dict[str, Schema] = {}
    for kind in types:
        doc = TypeAdapter(kind).json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in doc.pop("$defs", {}).items():
            schemas[name] = _openapi30(sub)
        schemas[kind.__name__] = _openapi30(doc)
    return schemas


def _openapi30(node: Any) -> Any:
    """JSON Schema 2020-12 → OpenAPI 3.0: ``anyOf`` with ``null`` becomes ``nullable`` (beside
    a ``$ref`` only through ``allOf``, as 3.0 ignores a reference's siblings), ``const`` a
    one-value ``enum``, a numeric ``exclusiveMinimum`` the boolean form; titles go."""
    if isinstance(node, list):
        return [_openapi30(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _openapi30(v) for k, v in node.items() if k != "title"}
    if out.get("type") == "null":
        return {"nullable": True, "enum": [None]}
    choices = out.get("anyOf")
    if choices is not None and {"nullable": True, "enum": [None]} in choices:
        kept = [c for c in choices if c != {"nullable": True, "enum": [None]}]
        del out["anyOf"]
        if len(kept) > 1:
            out["anyOf"] = kept
        elif "$ref" in kept[0]:
            out["allOf"] = kept
        else:
            out = {**kept[0], **out}
        out["nullable"] = True
    if "const" in out:
        out["enum"] = [out.pop("const")]
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(out.get(bound), int | float) and not isinstance(out[bound], bool):
            out[plain] = out[bound]
            out[bound] = True
    return out


@functools.cache
def _all_schemas() -> dict[str, Schema]:
    """:data:`SCHEMAS` and those generated from the body types. Built on the first request for
    the document, not at import: the JSON Schema of a dozen models costs ~20 ms of start-up
    (issue 18)."""
    return {
        **SCHEMAS,
        **generated_schemas(
            openai.ChatCompletionRequest,
            openai_answers.ChatCompletion,
            openai_answers.ChatCompletionChunk,
            openai.CompletionRequest,
            openai_answers.TextCompletion,
            openai.EmbeddingRequest,
            openai_answers.EmbeddingList,
            openai_answers.ModelList,
            openai_answers.ServedModel,
            openai_answers.OpenAIError,
            openai_tokens.TokenizeRequest,
            openai_tokens.Tokenized,
            openai_tokens.DetokenizeRequest,
            openai_tokens.Detokenized,
            GenerateRequest,
            GenerateResponse,
        ),
    }


_JSON = "application/json"
_BINARY = "application/octet-stream"
_BYTES: Schema = {"type": "string", "format": "binary"}
#: The binary tensor extension's header: where the JSON part of a body ends.
_HEADER_LENGTH = {
    "name": "Inference-Header-Content-Length",
    "in": "header",
    "required": False,
    "description": "bytes of the JSON part; binary tensor data follows it",
    "schema": {"type": "integer", "minimum": 0},
}


#: The statuses that carry ``Retry-After`` (Unavailable, RateLimited), in whole seconds >= 1.
_RETRY_STATUSES = (429, 503)
_RETRY_AFTER: dict[str, Any] = {
    "headers": {
        "Retry-After": {
            "description": "seconds to wait before retrying",
            "schema": {"type": "integer", "minimum": 1},
        }
    }
}


def _content(schema: str) -> dict[str, Any]:
    return {"content": {_JSON: {"schema": _ref(schema)}}}


def _ok_response(ok: str | None, media: str, *, binary: bool, stream: bool) -> dict[str, Any]:
    if ok is None:
        return {"description": "OK", "content": {media: {"schema": {"type": "string"}}}}
    content: dict[str, Any] = {media: {"schema": _ref(ok)}}
    if binary:
        content[_BINARY] = {"schema": _BYTES}
    if stream:
        content["text/event-stream"] = {"schema": _ref("ServerSentEvent")}
    return {"description": "OK", "content": content}


def operation(
    summary: str,
    ok: str | None,
    *,
    succeeds: bool = True,
    body: str | None = None,
    body_required: bool = True,
    errors: tuple[int, ...] = (),
    not_ok: str | None = None,
    ok_media: str = _JSON,
    binary: bool = False,
    stream: bool = False,
    error: str = "Error",
) -> dict[str, Any]:
    """An operation object: ``ok`` names the success schema (None: plain text) in ``ok_media``,
    ``body`` the request schema, ``errors`` the error statuses (answered with the ``error`` schema),
    ``not_ok`` a schema also answered with 503 (health "false"), ``binary`` that the binary
    extension may carry the body (with its header) and answer, ``stream`` that Server-Sent
    Events may answer (``text/event-stream``).
    ``succeeds=False``: a route that only ever answers its ``errors`` (no 200)."""
    responses: dict[str, Any] = {}
    if succeeds:
        responses["200"] = _ok_response(ok, ok_media, binary=binary, stream=stream)
    if not_ok is not None:
        responses["503"] = {"description": "not ready", **_RETRY_AFTER, **_content(not_ok)}
    for status in errors:
        retry = _RETRY_AFTER if status in _RETRY_STATUSES else {}
        responses[str(status)] = {"description": "error", **retry, **_content(error)}
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if body is not None:
        op["requestBody"] = {"required": body_required, **_content(body)}
        if binary:
            op["requestBody"]["content"][_BINARY] = {"schema": _BYTES}
            op["parameters"] = [_HEADER_LENGTH]
    return op


def _path_parameter(name: str) -> Schema:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string", "minLength": 1, "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]*$"},
    }


def build_document(router: Router, title: str) -> dict[str, Any]:
    """Describe every route of ``router`` (operations keyed by template and method) that has
    an operation object: one without (the data plane's pointers to the control plane) is not
    the listener's API."""
    paths: dict[str, dict[str, Any]] = {}
    for route in router.routes:
        if not route.doc:
            continue
        op = dict(route.doc)
        names = _PARAM.findall(route.template)
        if names:
            # Before the operation's own (the binary extension's header).
            op["parameters"] = [_path_parameter(n) for n in names] + list(
                cast("list[Schema]", op.get("parameters", []))
            )
        paths.setdefault(route.template, {})[route.method.lower()] = op
    return {
        "openapi": "3.0.3",
        "info": {"title": title, "version": __version__},
        "paths": paths,
        "components": {"schemas": _all_schemas()},
    }
