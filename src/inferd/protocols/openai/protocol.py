"""OpenAI's request bodies (pydantic, validated); the answers are in :mod:`.answers`.

Every parameter OpenAI defines for these endpoints is either honoured (``n`` choices too) or,
where inferd cannot honour it, refused unless it holds its default (``logprobs``, tools,
``store: true``, a ``service_tier`` other than ``"auto"``/``"default"``): a parameter read and
then ignored would answer something other than what was asked. A parameter with no default
inferd could keep to (``reasoning_effort``, ``audio``) is refused whenever it is set, saying that
inferd does not support it. ``user``, ``safety_identifier``, ``prompt_cache_key`` and
``metadata`` only identify the caller or tag a completion to OpenAI and change no answer: they
are accepted. Fields OpenAI does not define (a misspelling) are refused as unknown, naming them;
vLLM's ``top_k``, ``min_p``, ``repetition_penalty``, ``ignore_eos`` and (chat)
``chat_template_kwargs``, which users of vLLM send, are honoured.
The sampling parameters (penalties included) are
:class:`~inferd.protocols.text_wire.SamplingFields`, shared with the generate extension. The
answers' shapes are OpenAI's; the OpenAPI document is generated from these same types.
"""

from __future__ import annotations

from dataclasses import replace
from typing import (
    Annotated,
    Any,
    Literal,  # pydantic reads these before 3.12
)

from pydantic import BaseModel, Field, ValidationInfo, field_validator, model_validator

from inferd.generation import TEMPLATE_VARIABLES, Message, Sampling
from inferd.protocols.openai.response_format import ResponseFormat
from inferd.protocols.openai.unsupported import CHAT_UNSUPPORTED
from inferd.protocols.text_wire import STRICT, InvalidField, NonEmpty, SamplingFields

#: A ``logit_bias`` token id (JSON object keys are strings): within llama.cpp's 32-bit tokens.
MAX_TOKEN_ID = 2**31 - 1
#: Generations one request may ask for: ``n`` (OpenAI takes 128) times the prompts of a text
#: completion. Each waits for a slot in its model's queue, which holds 64 or more
#: (``llm.max_waiting_seqs``): more could never all be queued, a 503 that no retry passes.
MAX_CHOICES = 64
#: Messages one chat may carry (Azure OpenAI's bound; their templates alone are ~8,000 tokens).
MAX_MESSAGES = 2048
#: Texts one embeddings request may carry (OpenAI's limit).
MAX_EMBEDDING_INPUTS = 2048
#: OpenAI's limits on ``metadata``: pairs, and characters in a key and in a value.
MAX_METADATA_PAIRS, MAX_METADATA_KEY, MAX_METADATA_VALUE = 16, 64, 512


class TextPart(BaseModel):
    """One part of a message's content (only text parts: the models served read text)."""

    model_config = STRICT

    type: Literal["text"]
    text: str


#: OpenAI's assistant message beyond role and content, and why each is refused unless null/empty.
_NO_TOOLS = "tool calls are not supported by inferd (no function calling)"
_ANSWER_FIELDS = {
    "refusal": "a refusal is not supported by inferd (the chat template reads content only)",
    "tool_calls": _NO_TOOLS,
    "function_call": _NO_TOOLS,
    "audio": "not supported by inferd (no audio output)",
    "annotations": "not supported by inferd (its answers carry no annotations)",
}


class ChatMessage(BaseModel):
    model_config = STRICT

    #: ``developer`` is OpenAI's newer name for ``system`` and is read as one.
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart]
    #: The author's name: passed to the chat template with the message, as vLLM passes it.
    name: str | None = Field(default=None, description="passed to the chat template")
    # A client sends an answer back as history with all of its fields (``model_dump()``), null
    # where unused: at their defaults they change nothing and are accepted.
    refusal: str | None = Field(default=None, description="null only")
    tool_calls: list[dict[str, Any]] | None = Field(default=None, description="empty only")
    function_call: dict[str, Any] | None = Field(default=None, description="null only")
    audio: dict[str, Any] | None = Field(default=None, description="null only")
    annotations: list[dict[str, Any]] | None = Field(default=None, description="empty only")

    @field_validator("content")
    @classmethod
    def _some_part(cls, value: str | list[TextPart]) -> str | list[TextPart]:
        # OpenAI refuses an empty array too; an empty string it takes, and so does inferd.
        if isinstance(value, list) and not value:
            raise ValueError("an empty list of parts; give at least one text part, or a string")
        return value

    @field_validator(*_ANSWER_FIELDS)
    @classmethod
    def _answer_defaults(cls, value: object, info: ValidationInfo) -> object:
        if value is not None and value != []:
            raise ValueError(_ANSWER_FIELDS[info.field_name or ""])
        return value

    def message(self) -> Message:
        text = (
            self.content
            if isinstance(self.content, str)
            else "\n".join(part.text for part in self.content)
        )
        return Message("system" if self.role == "developer" else self.role, text, self.name)


def template_variables(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """A request's ``chat_template_kwargs``, refused when it sets a variable inferd sets."""
    for name in TEMPLATE_VARIABLES:
        if name in (value or {}):
            raise InvalidField(
                f"chat_template_kwargs.{name}",
                "is set by inferd for every chat (the request's messages, the model's own "
                "tokens); leave it out",
            )
    return value


class StreamOptions(BaseModel):
    model_config = STRICT

    include_usage: bool | None = None
    #: OpenAI pads its chunks against a side channel (true by default); inferd's chunks carry no
    #: padding either way, and their text is the same.
    include_obfuscation: bool | None = Field(
        default=None, description="accepted; inferd's chunks carry no obfuscation padding"
    )


class _Generation(SamplingFields):
    """What chat and text completions share: the model, streaming, and the parameters inferd
    refuses unless they hold their defaults."""

    model: NonEmpty
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    n: int | None = Field(
        default=None, ge=1, le=MAX_CHOICES, description="choices: one generation each"
    )
    logit_bias: dict[str, Annotated[float, Field(ge=-100, le=100)]] | None = Field(
        default=None, description="token id → bias added to its logit; -100 bans the token"
    )
    #: Identifies the end user to OpenAI; changes nothing in an answer.
    user: str | None = None

    @field_validator("logit_bias")
    @classmethod
    def _token_ids(cls, bias: dict[str, float] | None) -> dict[str, float] | None:
        for key in bias or {}:
            if not (key.isascii() and key.isdigit() and int(key) <= MAX_TOKEN_ID):
                raise ValueError(f"{key!r} is not a token id (0 to {MAX_TOKEN_ID})")
        return bias

    @property
    def streams(self) -> bool:
        return bool(self.stream)

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)

    @model_validator(mode="after")
    def _streaming_options(self) -> _Generation:
        # InvalidField is no ValueError: pydantic lets it through as it is, naming the field.
        if self.stream_options is not None and not self.stream:
            raise InvalidField("stream_options", "only allowed when stream is true")
        return self

    @property
    def token_limit(self) -> int | None:
        return self.max_tokens

    def asked(self) -> Sampling:
        """The sampling this request asks for."""
        bias = {int(k): v for k, v in (self.logit_bias or {}).items()}
        return self.sampling(self.token_limit, bias)

    def choices(self) -> list[Sampling]:
        """The sampling of each choice asked for (``n``): with a seed, choice ``i`` draws with
        ``seed + i``, so that choice 0 is the answer of ``n`` 1 and the others differ."""
        asked = self.asked()
        seed = asked.seed
        return [
            asked if seed is None or i == 0 else replace(asked, seed=seed + i)
            for i in range(self.n or 1)
        ]


class ChatCompletionRequest(_Generation):
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    max_completion_tokens: int | None = Field(
        default=None, ge=1, description="OpenAI's newer name for max_tokens"
    )
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    tools: list[dict[str, Any]] | None = Field(default=None, description='tool_choice "none" only')
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = Field(default=None, description="no effect without tools")
    response_format: ResponseFormat | None = None
    #: vLLM's and llama-server's: more variables for the model's chat template
    #: (``{"enable_thinking": false}``), beside those inferd sets itself.
    chat_template_kwargs: dict[str, Any] | None = Field(
        default=None, description="variables passed to the chat template (vLLM's)"
    )
    #: Identify the end user, or group requests for OpenAI's cache; change nothing in an answer.
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    #: Tags a stored completion; inferd stores none (``store`` true is refused), so it tags
    #: nothing and changes nothing in an answer. Checked against OpenAI's limits.
    metadata: (
        dict[
            Annotated[str, Field(max_length=MAX_METADATA_KEY)],
            Annotated[str, Field(max_length=MAX_METADATA_VALUE)],
        ]
        | None
    ) = Field(default=None, max_length=MAX_METADATA_PAIRS, description="accepted; tags nothing")
    # OpenAI's parameters inferd does not implement (CHAT_UNSUPPORTED says which values pass).
    store: bool | None = Field(default=None, description="false only (no stored completions)")
    service_tier: str | None = Field(default=None, description='"auto" or "default" only')
    modalities: list[str] | None = Field(default=None, description='["text"] only')
    verbosity: str | None = Field(default=None, description='"medium" only')
    reasoning_effort: str | None = Field(default=None, description="refused")
    audio: dict[str, Any] | None = Field(default=None, description="refused")
    prediction: dict[str, Any] | None = Field(default=None, description="refused")
    web_search_options: dict[str, Any] | None = Field(default=None, description="refused")
    moderation: dict[str, Any] | None = Field(default=None, description="refused")
    prompt_cache_retention: str | None = Field(default=None, description='"in_memory" only')
    prompt_cache_options: dict[str, Any] | None = Field(
        default=None, description="OpenAI's default only (implicit, 30m)"
    )
    functions: list[dict[str, Any]] | None = Field(
        default=None, description="deprecated tools: empty only"
    )
    function_call: str | dict[str, Any] | None = Field(
        default=None, description='deprecated tool_choice: "none" only'
    )

    @field_validator("logprobs")
    @classmethod
    def _no_logprobs(cls, value: bool | None) -> bool | None:
        if value:
            raise ValueError("log probabilities are not supported")
        return value

    @field_validator("top_logprobs")
    @classmethod
    def _no_top_logprobs(cls, value: int | None) -> int | None:
        if value:
            raise ValueError("log probabilities are not supported")
        return value

    @field_validator("tool_choice")
    @classmethod
    def _no_tool_choice(cls, value: str | dict[str, Any] | None) -> str | dict[str, Any] | None:
        if value not in (None, "none"):
            raise ValueError('tools are not supported; only "none" is accepted')
        return value

    @model_validator(mode="after")
    def _tools_unused(self) -> ChatCompletionRequest:
        """Tools pass with ``tool_choice`` ``"none"`` (agents send them with every chat) and stay
        out of the prompt; with no choice, OpenAI's is ``"auto"``: function calling, refused."""
        if self.tools and self.tool_choice != "none":
            raise InvalidField(
                "tools", 'tools (function calling) are not supported; with tool_choice "none" '
                "they are accepted and not used"
            )  # fmt: skip
        return self

    @field_validator("chat_template_kwargs")
    @classmethod
    def _own_variables(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return template_variables(value)

    def messages_read(self) -> list[Message]:
        return [m.message() for m in self.messages]

    @model_validator(mode="after")
    def _defaults_only(self) -> ChatCompletionRequest:
        for name, unsupported in CHAT_UNSUPPORTED.items():
            refusal = unsupported.refusal(getattr(self, name))
            if refusal is not None:
                raise InvalidField(name, refusal)
        return self

    @model_validator(mode="after")
    def _one_token_limit(self) -> ChatCompletionRequest:
        both = self.max_tokens is not None and self.max_completion_tokens is not None
        if both and self.max_tokens != self.max_completion_tokens:
            raise InvalidField(
                "max_completion_tokens",
                f"is {self.max_completion_tokens} but max_tokens is {self.max_tokens}; "
                "give one of them",
            )
        return self

    @property
    def token_limit(self) -> int | None:
        return self.max_tokens if self.max_completion_tokens is None else self.max_completion_tokens

    def asked(self) -> Sampling:
        asked = super().asked()
        schema = self.response_format.schema_text() if self.response_format else None
        return asked if schema is None else replace(asked, json_schema=schema)


class CompletionRequest(_Generation):
    prompt: str | Annotated[list[str], Field(min_length=1, max_length=MAX_CHOICES)] = Field(
        description=f"a prompt, or a list of 1 to {MAX_CHOICES}: n choices each (no token ids)"
    )
    #: The prompt comes back before each choice's text (vLLM's and OpenAI's legacy meaning).
    echo: bool | None = None
    suffix: str | None = None
    best_of: int | None = Field(default=None, ge=1)
    logprobs: int | None = Field(default=None, ge=0, le=5)

    @field_validator("suffix")
    @classmethod
    def _no_suffix(cls, value: str | None) -> str | None:
        if value:
            raise ValueError("suffix (insertion) is not supported")
        return value

    @field_validator("best_of")
    @classmethod
    def _one_best(cls, value: int | None) -> int | None:
        if value not in (None, 1):
            raise ValueError("only best_of=1 is supported")
        return value

    @field_validator("logprobs")
    @classmethod
    def _no_logprobs(cls, value: int | None) -> int | None:
        if value is not None:
            raise ValueError("log probabilities are not supported")
        return value

    @field_validator("prompt", mode="before")
    @classmethod
    def _prompt_list(cls, value: object) -> object:
        """Says what is wrong with a list of prompts (its type's bounds, which the schema
        shows, would only say that it fits no shape)."""
        if not isinstance(value, list):
            return value
        # vLLM's token-id prompts ([1, 2] or [[1, 2], [3]]): the models here take text only.
        if any(isinstance(p, int | list) and not isinstance(p, bool) for p in value):
            raise ValueError(
                "token ids are not supported as a prompt; send the text (POST /detokenize "
                "gives the text of token ids)"
            )
        if not value:
            raise ValueError("an empty list; give at least one prompt")
        if len(value) > MAX_CHOICES:
            raise ValueError(
                f"{len(value)} prompts; at most {MAX_CHOICES} per request (each is a "
                f"generation, and a model's queue holds at least {MAX_CHOICES})"
            )
        return value

    @model_validator(mode="after")
    def _generations_queued(self) -> CompletionRequest:
        # Every choice of every prompt is one generation, and all must fit the model's queue.
        prompts, choices = len(self.prompts), self.n or 1
        if prompts * choices > MAX_CHOICES:
            raise InvalidField(
                "n",
                f"{choices} choices for each of {prompts} prompts are {prompts * choices} "
                f"generations; at most {MAX_CHOICES} per request (a model's queue holds at "
                f"least {MAX_CHOICES})",
            )
        return self

    @property
    def prompts(self) -> list[str]:
        return [self.prompt] if isinstance(self.prompt, str) else self.prompt


class EmbeddingRequest(BaseModel):
    model_config = STRICT

    model: NonEmpty
    input: (
        NonEmpty | Annotated[list[NonEmpty], Field(min_length=1, max_length=MAX_EMBEDDING_INPUTS)]
    )
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: int | None = Field(default=None, ge=1)
    #: Identifies the end user to OpenAI; changes nothing in an answer.
    user: str | None = None

    @field_validator("dimensions")
    @classmethod
    def _full_size(cls, value: int | None) -> int | None:
        if value is not None:
            raise ValueError("shortened embeddings are not supported; leave dimensions out")
        return value

    @property
    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else self.input
