"""``POST /v1/embeddings``: one vector per input text, from a language model loaded for
embedding (every ``llamacpp`` version is), as floats or, with ``encoding_format: base64``, as
little-endian float32 bytes in base64 (what OpenAI's clients ask for by default)."""

from __future__ import annotations

import base64
import time

import numpy as np

from inferd.protocols.http import Request, Response, json_response
from inferd.protocols.openai.answers import EmbeddingList
from inferd.protocols.openai.models import generator
from inferd.protocols.openai.protocol import EmbeddingRequest
from inferd.protocols.text_wire import InvalidField, Timeout, deadline, parse_body
from inferd.serving.types import DataPlane


class EmbeddingHandlers:
    """Embeddings over one data plane; ``timeout`` gives a model's default deadline, as for a
    generation (None: they run until they end, or their client leaves)."""

    def __init__(self, dataplane: DataPlane, timeout: Timeout | None = None) -> None:
        self.dataplane = dataplane
        self.timeout = timeout

    async def embed(self, request: Request) -> Response:
        received = time.monotonic()
        body = parse_body(EmbeddingRequest, request.body)
        served = await generator(self.dataplane, body.model)
        if not served.generator.embeddings:
            raise InvalidField("model", f"model {body.model!r} is not loaded for embeddings")
        until = deadline(request, served.model, self.timeout, received)
        vectors, tokens = await served.embed(body.texts, until)
        packed = body.encoding_format == "base64"
        document: EmbeddingList = {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": _base64(v) if packed else v}
                for i, v in enumerate(vectors)
            ],
            "model": body.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        return json_response(document)


def _base64(vector: list[float]) -> str:
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")
