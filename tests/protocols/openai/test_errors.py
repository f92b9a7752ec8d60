"""Errors on the OpenAI routes: OpenAI's shape, the status every inferd transport gives the
error's code, Retry-After where a retry helps, and a bare 500 for a bug."""

from __future__ import annotations

import asyncio
import logging

import orjson
import pytest

from inferd.errors import (
    DeadlineExceeded,
    InferdError,
    InvalidArgument,
    ModelNotFound,
    PayloadTooLarge,
    RateLimited,
    Unavailable,
    Unsupported,
)
from inferd.protocols.http import Request, Response
from inferd.protocols.openai.errors import error_event, error_response, openai_errors
from inferd.protocols.text_wire import InvalidField


@pytest.mark.parametrize(
    ("error", "status", "kind", "param", "code"),
    [
        (
            InvalidField("messages", "required"),
            400,
            "invalid_request_error",
            "messages",
            "invalid_argument",
        ),
        (
            InvalidArgument("the prompt is 600 tokens"),
            400,
            "invalid_request_error",
            None,
            "invalid_argument",
        ),
        (ModelNotFound("nope"), 404, "invalid_request_error", "model", "model_not_found"),
        (ModelNotFound("llm", "v9"), 404, "invalid_request_error", "model", "model_not_found"),
        (PayloadTooLarge("too big"), 413, "invalid_request_error", None, "payload_too_large"),
        (
            RateLimited("slow down", retry_after=3),
            429,
            "rate_limit_error",
            None,
            "resource_exhausted",
        ),
        (Unsupported("no"), 501, "server_error", None, "unsupported"),
        (Unavailable("queue full", retry_after=2), 503, "server_error", None, "unavailable"),
        (DeadlineExceeded("too late"), 504, "server_error", None, "deadline_exceeded"),
    ],
)
def test_openai_error_shape(
    error: InferdError, status: int, kind: str, param: str | None, code: str
) -> None:
    response = error_response(error)
    assert response.status == status
    assert response.content_type == b"application/json"
    assert orjson.loads(response.body) == {
        "error": {"message": error.message, "type": kind, "param": param, "code": code}
    }
    event = error_event(error)
    assert event.startswith(b"data: ") and event.endswith(b"\n\n")
    assert orjson.loads(event[6:]) == orjson.loads(response.body)


def test_retry_after_on_a_full_queue() -> None:
    # Rounded up, as over gRPC: asking again at 2 s would be refused again.
    assert error_response(Unavailable("queue full", retry_after=2.4)).headers == [
        (b"retry-after", b"3")
    ]
    assert error_response(InvalidArgument("x")).headers == []


def _request() -> Request:
    return Request("POST", "/v1/chat/completions", "", {}, b"{}")


def test_a_handler_error_is_answered_in_openai_shape() -> None:
    async def handler(request: Request) -> Response:
        raise ModelNotFound("nope")

    response = asyncio.run(openai_errors(handler)(_request()))
    assert response.status == 404
    assert orjson.loads(response.body)["error"]["code"] == "model_not_found"


def test_a_bug_is_a_bare_500_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def handler(request: Request) -> Response:
        raise RuntimeError("/secret/path exploded")

    with caplog.at_level(logging.ERROR):
        response = asyncio.run(openai_errors(handler)(_request()))
    assert response.status == 500
    assert orjson.loads(response.body) == {
        "error": {"message": "internal error", "type": "server_error", "param": None,
                  "code": "internal"}
    }  # fmt: skip
    assert b"secret" not in response.body
    assert "exploded" in caplog.text
