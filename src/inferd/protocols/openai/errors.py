"""Errors in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``.

The status is the one every inferd transport gives the error's code (``STATUS_BY_CODE``), with
``Retry-After`` on 503 and 429. ``type`` is OpenAI's: ``invalid_request_error`` for a client's
mistake, ``server_error`` for 5xx. ``code`` is ``model_not_found`` for an unknown model and
``context_length_exceeded`` for a prompt over the context (as OpenAI answers), else inferd's
error code in lower case (``invalid_argument``, ``unavailable``, ``deadline_exceeded``…).
``param`` names the request field at fault, when one is (refused by the model too: a
``logit_bias`` token outside its vocabulary).
"""

from __future__ import annotations

import functools
import logging

import orjson

from inferd.errors import ContextLengthExceeded, InferdError, InternalError, ModelNotFound
from inferd.generation import InvalidSampling
from inferd.protocols.http import Handler, Request, Response
from inferd.protocols.http.messages import openai_type, response_for_error
from inferd.protocols.openai.answers import OpenAIError
from inferd.protocols.text_wire import InvalidField, sse_event

log = logging.getLogger(__name__)


def error_document(exc: InferdError, status: int) -> OpenAIError:
    code = (
        "model_not_found" if isinstance(exc, ModelNotFound)
        else "context_length_exceeded" if isinstance(exc, ContextLengthExceeded)
        else exc.code.value.lower()
    )  # fmt: skip
    param: str | None = None
    if isinstance(exc, ModelNotFound):
        param = "model"
    elif isinstance(exc, InvalidField | InvalidSampling):
        param = exc.param
    return {
        "error": {"message": exc.message, "type": openai_type(status), "param": param, "code": code}
    }


def error_response(exc: InferdError) -> Response:
    """The answer to ``exc``: its status and headers as on every route, OpenAI's body."""
    response = response_for_error(exc)
    response.body = orjson.dumps(error_document(exc, response.status))
    return response


def error_event(exc: InferdError) -> bytes:
    """A stream's error, once its status line is sent: the event OpenAI's clients raise on."""
    return sse_event(error_document(exc, response_for_error(exc).status))


def openai_errors(handler: Handler) -> Handler:
    """``handler`` with every failure answered in OpenAI's shape (a bug: a bare 500, logged)."""

    @functools.wraps(handler)
    async def answer(request: Request) -> Response:
        try:
            return await handler(request)
        except InferdError as exc:
            return error_response(exc)
        except Exception:
            log.exception("OpenAI handler for %s %s failed", request.method, request.path)
            return error_response(InternalError("internal error"))

    return answer
