"""The OpenAI routes of the data-plane listener, with their OpenAPI operations. Every answer on
them, errors included, is in OpenAI's shape (:mod:`~inferd.protocols.openai.errors`)."""

from __future__ import annotations

from collections.abc import Callable

from inferd.protocols.http import Handler, Request, Response, Router
from inferd.protocols.openai.completions import CompletionHandlers
from inferd.protocols.openai.embeddings import EmbeddingHandlers
from inferd.protocols.openai.errors import openai_errors
from inferd.protocols.openai.models import ModelHandlers
from inferd.protocols.openai.tokens import TokenHandlers
from inferd.protocols.text_wire import Timeout
from inferd.protocols.v2.openapi import operation
from inferd.serving.types import DataPlane

ERROR = "OpenAIError"
#: What a generation may answer besides 200: bad input or not a language model, an unknown
#: model, a bug, an engine that cannot (501), a full queue or a model loading (503), a deadline.
GENERATION_ERRORS = (400, 404, 500, 501, 503, 504)
#: What tokens may answer besides 200: bad input or not a language model, an unknown model, a
#: bug, a model that does not show its tokens (501), a model loading (503).
TOKEN_ERRORS = (400, 404, 500, 501, 503)
_RETRY = {"description": "seconds to wait", "schema": {"type": "integer", "minimum": 1}}
#: vLLM's ``GET /health``: a status and no body, as vLLM answers it.
HEALTH_DOC = {
    "summary": "vLLM's health: 200 while every model served is ready, else 503 (no body)",
    "responses": {
        "200": {"description": "healthy"},
        "503": {"description": "not healthy", "headers": {"Retry-After": _RETRY}},
    },
}
_TEXT = b"text/plain; charset=utf-8"


def health(healthy: Callable[[], bool]) -> Handler:
    """vLLM's ``GET /health`` answering by ``healthy``: 200 with an empty body, else 503.
    vLLM's engine serves one model; here the server (or gateway) is healthy when its readiness
    (``/v2/health/ready``) is: every model served ready, and no drain begun."""

    async def answer(request: Request) -> Response:
        if healthy():
            return Response(200, b"", _TEXT)
        return Response(503, b"", _TEXT, [(b"retry-after", b"1")])

    return answer


def add_routes(
    router: Router, dataplane: DataPlane, kserve_ready: Handler, timeout: Timeout | None
) -> None:
    """Add OpenAI's routes to ``router``. ``/v1/models/{model}`` is KServe v1's readiness too:
    ``kserve_ready`` answers it for models that are not language models."""
    completions = CompletionHandlers(dataplane, timeout)
    models = ModelHandlers(dataplane, kserve_ready)
    embeddings = EmbeddingHandlers(dataplane, timeout)
    tokens = TokenHandlers(dataplane)
    router.add("GET", "/health", health(lambda: dataplane.live() and dataplane.ready()), HEALTH_DOC)
    router.add(
        "GET",
        "/v1/models",
        openai_errors(models.list),
        operation("OpenAI: the language models served", "ModelList", errors=(500,), error=ERROR),
    )
    router.add(
        "GET",
        "/v1/models/{model}",
        openai_errors(models.retrieve),
        operation(
            "OpenAI model (language models) and KServe v1 model readiness (every model)",
            "ServedModel",
            not_ok="ServedModel",
            errors=(404, 500),
            error=ERROR,
        ),
    )
    router.add(
        "POST",
        "/v1/chat/completions",
        openai_errors(completions.chat),
        operation(
            "OpenAI chat completion (streamed as Server-Sent Events with stream: true)",
            "ChatCompletion",
            body="ChatCompletionRequest",
            errors=GENERATION_ERRORS,
            stream=True,
            error=ERROR,
        ),
    )
    router.add(
        "POST",
        "/v1/completions",
        openai_errors(completions.complete),
        operation(
            "OpenAI text completion (streamed as Server-Sent Events with stream: true)",
            "TextCompletion",
            body="CompletionRequest",
            errors=GENERATION_ERRORS,
            stream=True,
            error=ERROR,
        ),
    )
    router.add(
        "POST",
        "/v1/embeddings",
        openai_errors(embeddings.embed),
        operation(
            "OpenAI embeddings",
            "EmbeddingList",
            body="EmbeddingRequest",
            errors=GENERATION_ERRORS,
            error=ERROR,
        ),
    )
    # vLLM's, at the root as vLLM serves them.
    router.add(
        "POST",
        "/tokenize",
        openai_errors(tokens.tokenize),
        operation(
            "vLLM's tokenize: the tokens a language model reads for a prompt or chat messages",
            "Tokenized",
            body="TokenizeRequest",
            errors=TOKEN_ERRORS,
            error=ERROR,
        ),
    )
    router.add(
        "POST",
        "/detokenize",
        openai_errors(tokens.detokenize),
        operation(
            "vLLM's detokenize: the text of tokens",
            "Detokenized",
            body="DetokenizeRequest",
            errors=TOKEN_ERRORS,
            error=ERROR,
        ),
    )
