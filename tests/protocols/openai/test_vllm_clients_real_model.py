"""What a vLLM user's client expects of a real ``inferd serve`` of the tiny GGUF: ``GET
/health`` answers 200 with no body once the model is ready, and the official ``openai`` client's
chat with ``tools`` and ``tool_choice="none"`` (as LangChain's agents send it) is answered with
text, no tool call, from the same prompt as without the tools."""

from __future__ import annotations

import httpx
import openai
import pytest

from e2e.conftest import ServeProcess
from protocols.openai.test_tokenize_real_model import HI, served  # noqa: F401 (the fixture)
from protocols.openai.test_tools_none import WEATHER

pytestmark = pytest.mark.slow


def test_health_is_200_with_no_body(served: ServeProcess) -> None:  # noqa: F811
    answer = httpx.get(served.url + "/health", timeout=10)
    assert (answer.status_code, answer.content) == (200, b"")


def test_tools_with_tool_choice_none_through_the_official_client(
    served: ServeProcess,  # noqa: F811
) -> None:
    client = openai.OpenAI(base_url=served.url + "/v1", api_key="unused", max_retries=0)
    plain = client.chat.completions.create(model="llm", messages=HI, max_tokens=4, temperature=0)
    with_tools = client.chat.completions.create(
        model="llm", messages=HI, max_tokens=4, temperature=0,
        tools=[WEATHER], tool_choice="none",
    )  # fmt: skip
    choice = with_tools.choices[0]
    assert choice.message.tool_calls is None and choice.finish_reason in ("stop", "length")
    assert isinstance(choice.message.content, str)
    assert with_tools.usage is not None and plain.usage is not None
    assert with_tools.usage.prompt_tokens == plain.usage.prompt_tokens  # tools not in the prompt
