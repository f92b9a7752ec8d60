"""OpenAI request bodies: what is accepted becomes the sampling and prompt asked for, and every
refusal names the field and what it should be (pure functions, no model)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from inferd.errors import InvalidArgument
from inferd.generation import Message, Sampling
from inferd.protocols.openai.protocol import (
    CHAT_UNSUPPORTED,
    MAX_EMBEDDING_INPUTS,
    MAX_MESSAGES,
    ChatCompletionRequest,
    CompletionRequest,
    EmbeddingRequest,
)
from inferd.protocols.openai.tokens import MAX_DETOKENIZE, DetokenizeRequest, TokenizeRequest
from inferd.protocols.text_wire import InvalidField, parse_body

HI = [{"role": "user", "content": "Hi"}]


def chat(**fields: Any) -> ChatCompletionRequest:
    return parse_body(ChatCompletionRequest, orjson.dumps({"model": "m", "messages": HI, **fields}))


def completion(**fields: Any) -> CompletionRequest:
    return parse_body(CompletionRequest, orjson.dumps({"model": "m", "prompt": "Hi", **fields}))


def test_defaults_ask_for_plain_sampling() -> None:
    request = chat()
    assert request.asked() == Sampling()
    assert not request.streams and not request.include_usage
    assert request.messages_read() == [Message("user", "Hi")]


def test_every_sampling_parameter_reaches_the_sampling() -> None:
    request = chat(
        temperature=0, top_p=0.5, max_tokens=7, stop=["\n", "END"], seed=-3,
        logit_bias={"12": -100, "7": 2.5}, stream=True, stream_options={"include_usage": True},
        n=1, presence_penalty=0, frequency_penalty=0.0, user="someone", logprobs=False,
        tools=[], tool_choice="none", response_format={"type": "text"},
    )  # fmt: skip
    assert request.asked() == Sampling(
        temperature=0, top_p=0.5, max_tokens=7, stop=("\n", "END"), seed=-3,
        logit_bias={12: -100.0, 7: 2.5},
    )  # fmt: skip
    assert request.streams and request.include_usage


@pytest.mark.parametrize(
    "fields",
    [
        {"store": False},
        {"service_tier": "auto"},
        {"service_tier": "default"},
        {"metadata": {"team": "search", "k" * 64: "v" * 512}},
        {"metadata": {f"k{i}": "v" for i in range(16)}, "store": False},
        {"modalities": ["text"]},
        {"verbosity": "medium"},
        {"prompt_cache_retention": "in_memory"},
        {"prompt_cache_options": {}},
        {"prompt_cache_options": {"mode": "implicit", "ttl": "30m"}},
        {"functions": [], "function_call": "none"},
        {"parallel_tool_calls": True},
        {"safety_identifier": "hashed-user", "prompt_cache_key": "faq"},
        {"stream": True, "stream_options": {"include_obfuscation": False}},
        {"stream": True, "stream_options": {"include_obfuscation": True, "include_usage": True}},
        {name: None for name in CHAT_UNSUPPORTED},
    ],
)
def test_openai_defaults_inferd_does_not_implement_are_accepted(fields: dict[str, Any]) -> None:
    # OpenAI's own defaults, or tags that change no answer: the same sampling and prompt.
    request = chat(**fields)
    assert request.asked() == Sampling()
    assert request.messages_read() == [Message("user", "Hi")]


def test_one_stop_string_and_the_newer_token_limit() -> None:
    assert chat(stop="###").asked().stop == ("###",)
    assert chat(max_completion_tokens=9).asked().max_tokens == 9
    assert chat(max_completion_tokens=9, max_tokens=9).asked().max_tokens == 9


def test_content_parts_and_developer_messages() -> None:
    request = chat(
        messages=[
            {"role": "developer", "content": "Be brief."},
            {
                "role": "user",
                "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
            },
            {"role": "assistant", "content": ""},
        ]
    )
    assert request.messages_read() == [
        Message("system", "Be brief."), Message("user", "a\nb"), Message("assistant", ""),
    ]  # fmt: skip


def test_a_completion_prompt_is_a_string_or_a_list_of_strings() -> None:
    assert completion().prompts == ["Hi"]
    assert completion(prompt=["Once", "upon"]).prompts == ["Once", "upon"]
    assert completion(echo=False, best_of=1, suffix=None).asked() == Sampling()


@pytest.mark.parametrize(
    ("fields", "param", "says"),
    [
        ({"messages": []}, "messages", "at least 1 item"),
        ({"messages": None}, "messages", "valid list"),
        ({"model": ""}, "model", "at least 1 character"),
        ({"model": 3}, "model", "valid string (got 3)"),
        ({"messages": ["hi"]}, "messages[0]", "should be an object"),
        (
            {"messages": [{"role": "robot", "content": "x"}]},
            "messages[0].role",
            "'system', 'developer', 'user' or 'assistant'",
        ),
        ({"messages": [{"role": "user"}]}, "messages[0].content", "required"),
        (
            {"messages": [{"role": "user", "content": 5}]},
            "messages[0].content",
            "a string or a list of text parts (got 5)",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
            "messages[0].content[0].type",
            "'text'",
        ),
        ({"temperature": "hot"}, "temperature", "valid number (got 'hot')"),
        ({"temperature": 2.5}, "temperature", "less than or equal to 2"),
        ({"temperature": True}, "temperature", "valid number"),
        ({"top_p": 0}, "top_p", "greater than 0"),
        ({"max_tokens": 0}, "max_tokens", "greater than or equal to 1"),
        ({"max_tokens": 1.5}, "max_tokens", "valid integer"),
        ({"max_tokens": "8"}, "max_tokens", "valid integer (got '8')"),
        (
            {"max_tokens": 4, "max_completion_tokens": 5},
            "max_completion_tokens",
            "is 5 but max_tokens is 4",
        ),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop", "a string or a list of up to 4 strings"),
        ({"stop": [1]}, "stop[0]", "valid string (got 1)"),
        (
            {"stop": ""},
            "stop",
            "should not be empty (a string or a list of up to 4 strings)",
        ),
        ({"seed": 2**63}, "seed", "less than or equal to"),
        ({"n": 65}, "n", "less than or equal to 64"),
        ({"stream": "yes"}, "stream", "valid boolean"),
        (
            {"stream_options": {"include_usage": True}},
            "stream_options",
            "only allowed when stream is true",
        ),
        (
            {"stream": True, "stream_options": {"usage": True}},
            "stream_options.usage",
            "unknown field",
        ),
        ({"logit_bias": {"abc": 1}}, "logit_bias", "'abc' is not a token id"),
        ({"logit_bias": {"-1": 1}}, "logit_bias", "'-1' is not a token id"),
        ({"logit_bias": {"5": 101}}, "logit_bias.5", "less than or equal to 100"),
        ({"presence_penalty": 2.5}, "presence_penalty", "less than or equal to 2"),
        ({"frequency_penalty": -3}, "frequency_penalty", "greater than or equal to -2"),
        ({"logprobs": True}, "logprobs", "log probabilities are not supported"),
        ({"top_logprobs": 2}, "top_logprobs", "log probabilities are not supported"),
        ({"tools": [{"type": "function"}]}, "tools", "not supported"),
        ({"tool_choice": "auto"}, "tool_choice", 'only "none"'),
        ({"functions": [{"name": "f"}]}, "functions", "function calling is not supported"),
        ({"best_of": 2}, "best_of", "unknown field"),
        ({"temprature": 0.5}, "temprature", "unknown field"),
        (
            {"stream": True, "stream_options": {"obfuscate": False}},
            "stream_options.obfuscate",
            "unknown field",
        ),
        ({"messages": [{"role": "user", "content": "x", "name": 7}]}, "messages[0].name", "valid"),
        ({"store": "false"}, "store", "valid boolean (got 'false')"),
        ({"metadata": {"a": 1}}, "metadata.a", "valid string (got 1)"),
        ({"metadata": {"a": "v" * 513}}, "metadata.a", "at most 512 characters"),
        ({"metadata": {"k" * 65: "v"}}, "metadata." + "k" * 65, "at most 64 characters"),
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata", "at most 16 items"),
        ({"modalities": "text"}, "modalities", "valid list"),
    ],
)
def test_chat_refusals_name_the_field(fields: dict[str, Any], param: str, says: str) -> None:
    with pytest.raises(InvalidField) as caught:
        chat(**fields)
    assert caught.value.param == param
    assert caught.value.message.startswith(f"{param}: ")
    assert says in caught.value.message


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"store": True}, "store: true is not supported by inferd (only false, OpenAI's default)"),
        (
            {"store": True, "metadata": {"a": "b"}},
            "store: true is not supported by inferd (only false, OpenAI's default)",
        ),
        (
            {"service_tier": "flex"},
            'service_tier: "flex" is not supported by inferd '
            '(only "auto" or "default": OpenAI\'s default tier)',
        ),
        (
            {"modalities": ["text", "audio"]},
            'modalities: ["text","audio"] is not supported by inferd '
            '(only ["text"], OpenAI\'s default)',
        ),
        (
            {"verbosity": "low"},
            'verbosity: "low" is not supported by inferd (only "medium", OpenAI\'s default)',
        ),
        (
            {"prompt_cache_retention": "24h"},
            'prompt_cache_retention: "24h" is not supported by inferd (only "in_memory": '
            "cached prefixes stay in memory while a free slot keeps them)",
        ),
        (
            {"prompt_cache_options": {"mode": "explicit"}},
            'prompt_cache_options: {"mode":"explicit"} is not supported by inferd '
            '(only {"mode": "implicit", "ttl": "30m"}, OpenAI\'s default, or part of it)',
        ),
        (
            {"moderation": {"model": "omni-moderation-latest"}},
            "moderation: not supported by inferd (no moderation of input or output); leave it out",
        ),
        (
            {"function_call": {"name": "f"}},
            'function_call: {"name":"f"} is not supported by inferd '
            '(only "none", OpenAI\'s default without functions)',
        ),
        (
            {"reasoning_effort": "low"},
            "reasoning_effort: not supported by inferd "
            "(the models served do not take a reasoning effort); leave it out",
        ),
        (
            {"audio": {"voice": "alloy", "format": "wav"}},
            "audio: not supported by inferd (no audio output); leave it out",
        ),
        (
            {"prediction": {"type": "content", "content": "x"}},
            "prediction: not supported by inferd (no predicted outputs); leave it out",
        ),
        (
            {"web_search_options": {}},
            "web_search_options: not supported by inferd (no web search); leave it out",
        ),
    ],
)
def test_openai_parameters_inferd_does_not_implement_are_refused_as_unsupported(
    fields: dict[str, Any], message: str
) -> None:
    # Named as OpenAI's parameters that inferd does not support: not "unknown" (a misspelling).
    with pytest.raises(InvalidField) as caught:
        chat(**fields)
    assert caught.value.param == next(iter(fields))
    assert caught.value.message == message


def test_the_parameters_inferd_does_not_implement_are_fields_checked_in_their_order() -> None:
    fields = list(ChatCompletionRequest.model_fields)
    assert list(CHAT_UNSUPPORTED) == [name for name in fields if name in CHAT_UNSUPPORTED]
    assert set(CHAT_UNSUPPORTED) <= set(fields)


def test_a_seed_beyond_64_bits_is_not_an_integer() -> None:
    # orjson reads integers beyond 64 bits as floats: refused as not an integer, never rounded.
    with pytest.raises(InvalidField, match=r"^seed: Input should be a valid integer"):
        parse_body(
            CompletionRequest, b'{"model": "m", "prompt": "a", "seed": 18446744073709551616}'
        )


@pytest.mark.parametrize(
    ("fields", "param", "says"),
    [
        ({"prompt": [[1, 2]]}, "prompt", "token ids are not supported"),
        ({"prompt": None}, "prompt", "a string or a list of strings"),
        ({"suffix": "end"}, "suffix", "not supported"),
        ({"best_of": 3}, "best_of", "only best_of=1"),
        ({"logprobs": 2}, "logprobs", "not supported"),
        ({"messages": HI}, "messages", "unknown field"),
        ({"store": False}, "store", "unknown field"),  # chat's, not a text completion's
    ],
)
def test_completion_refusals_name_the_field(fields: dict[str, Any], param: str, says: str) -> None:
    with pytest.raises(InvalidField) as caught:
        completion(**fields)
    assert caught.value.param == param
    assert says in caught.value.message


def test_a_missing_prompt_is_required() -> None:
    with pytest.raises(InvalidField, match=r"^prompt: required$"):
        parse_body(CompletionRequest, b'{"model": "m"}')


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"{", "malformed JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'"model"', "must be a JSON object"),
    ],
)
def test_a_body_that_is_not_a_json_object(body: bytes, says: str) -> None:
    with pytest.raises(InvalidArgument, match=says) as caught:
        parse_body(ChatCompletionRequest, body)
    assert not isinstance(caught.value, InvalidField)


def test_an_empty_body_names_what_is_required() -> None:
    with pytest.raises(InvalidField, match=r"^model: required$"):
        parse_body(ChatCompletionRequest, b"")


def test_embedding_inputs() -> None:
    one = parse_body(EmbeddingRequest, b'{"model": "m", "input": "a"}')
    many = parse_body(
        EmbeddingRequest, b'{"model": "m", "input": ["a", "b"], "encoding_format": "base64"}'
    )
    assert one.texts == ["a"] and many.texts == ["a", "b"]


@pytest.mark.parametrize(
    ("fields", "param", "says"),
    [
        ({"input": []}, "input", "a string or a list of strings"),
        ({"input": ""}, "input", "a string or a list of strings"),
        ({"input": ["a", ""]}, "input[1]", "at least 1 character"),
        ({"input": ["a"] * (MAX_EMBEDDING_INPUTS + 1)}, "input", "a string or a list of strings"),
        ({"input": [[1, 2]]}, "input[0]", "valid string"),
        ({"input": "a", "encoding_format": "int8"}, "encoding_format", "'float' or 'base64'"),
        ({"input": "a", "dimensions": 16}, "dimensions", "leave dimensions out"),
    ],
)
def test_embedding_refusals(fields: dict[str, Any], param: str, says: str) -> None:
    with pytest.raises(InvalidField) as caught:
        parse_body(EmbeddingRequest, orjson.dumps({"model": "m", **fields}))
    assert caught.value.param == param
    assert says in caught.value.message


def test_a_participant_name_reaches_the_chat_template_as_vllm_passes_it() -> None:
    # AutoGen and LangChain's multi-agent chats name each message's author; vLLM hands the name
    # to the chat template with the message, and inferd does too (a template may ignore it).
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi", "name": "alice"},
        {"role": "assistant", "content": "Hello", "name": "helper"},
    ]
    request = chat(messages=messages)
    assert request.messages_read() == [
        Message("system", "Be brief."),
        Message("user", "Hi", "alice"),
        Message("assistant", "Hello", "helper"),
    ]


def test_a_chat_of_too_many_messages_is_refused_before_it_is_read() -> None:
    # 200,000 messages took 2 s to validate and 4 s of the event loop in all; 2,048 pass.
    hi = {"role": "user", "content": "hi"}
    body = {"model": "m", "messages": [hi] * 200_000}
    for kind in (ChatCompletionRequest, TokenizeRequest):
        with pytest.raises(InvalidField) as refused:
            parse_body(kind, orjson.dumps(body))
        assert refused.value.param == "messages"
        assert "at most 2048 items" in str(refused.value)
        assert parse_body(kind, orjson.dumps({**body, "messages": [hi] * MAX_MESSAGES}))


def test_detokenize_reads_at_most_a_million_tokens() -> None:
    body = {"model": "m", "tokens": [5] * (MAX_DETOKENIZE + 1)}
    with pytest.raises(InvalidField) as refused:
        parse_body(DetokenizeRequest, orjson.dumps(body))
    assert refused.value.param == "tokens" and "at most 1048576 items" in str(refused.value)
