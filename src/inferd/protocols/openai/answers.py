"""OpenAI's answers: typed dicts, sent as they are. Their shapes are OpenAI's; the OpenAPI
document is generated from these same types (and the requests of :mod:`.protocol`)."""

from __future__ import annotations

from typing import Literal, NotRequired  # pydantic reads these before 3.12

from typing_extensions import TypedDict

from inferd.generation import FinishReason


class PromptTokensDetails(TypedDict):
    cached_tokens: int


class Usage(TypedDict):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails


class AssistantMessage(TypedDict):
    role: Literal["assistant"]
    content: str


class ChatChoice(TypedDict):
    index: int
    message: AssistantMessage
    finish_reason: FinishReason
    logprobs: None


class ChatCompletion(TypedDict):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage


class Delta(TypedDict, total=False):
    role: Literal["assistant"]
    content: str


class ChunkChoice(TypedDict):
    index: int
    delta: Delta
    finish_reason: FinishReason | None
    logprobs: None


class ChatCompletionChunk(TypedDict):
    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: NotRequired[Usage | None]


class CompletionChoice(TypedDict):
    index: int
    text: str
    finish_reason: FinishReason | None
    logprobs: None


class TextCompletion(TypedDict):
    """A text completion, whole or (streamed) one chunk of it."""

    id: str
    object: Literal["text_completion"]
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: NotRequired[Usage | None]


class Embedding(TypedDict):
    object: Literal["embedding"]
    index: int
    #: Floats, or (``encoding_format`` base64) their little-endian float32 bytes in base64.
    embedding: list[float] | str


class EmbeddingUsage(TypedDict):
    prompt_tokens: int
    total_tokens: int


class EmbeddingList(TypedDict):
    object: Literal["list"]
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage


class ModelObject(TypedDict):
    """OpenAI's model object, with vLLM's ``root`` (where the model was loaded from: here, the
    store reference), ``parent`` (a LoRA adapter's base model; null for a model that is no
    adapter) and ``max_model_len`` (the context a sequence may take; null when not known)."""

    id: str
    object: Literal["model"]
    created: int
    owned_by: str
    root: str | None
    parent: str | None
    max_model_len: int | None


class ModelList(TypedDict):
    object: Literal["list"]
    data: list[ModelObject]


class KServeReady(TypedDict):
    """KServe v1's readiness answer on ``GET /v1/models/{model}``."""

    name: str
    ready: bool


class ServedModel(KServeReady, total=False):
    """``GET /v1/models/{model}``: OpenAI's model object for a language model, beside KServe
    v1's readiness, which the same path answers for every model."""

    id: str
    object: Literal["model"]
    created: int
    owned_by: str
    root: str | None
    parent: str | None
    max_model_len: int | None


class OpenAIErrorDetail(TypedDict):
    message: str
    type: str
    param: str | None
    code: str | None


class OpenAIError(TypedDict):
    error: OpenAIErrorDetail
