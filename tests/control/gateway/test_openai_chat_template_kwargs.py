"""``chat_template_kwargs`` from the official ``openai`` client (``extra_body``, as apps written
for vLLM send ``{"enable_thinking": false}``), to a real ``inferd serve`` of a tiny GGUF whose
chat template reads ``enable_thinking`` as Qwen3's does, directly and through the gateway's
relay: the variable reaches the template (the prompt grows by the empty thinking block), a
model whose template does not read it answers as without it, and a variable inferd sets
itself is a 400 naming it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from e2e.conftest import ServeProcess
from inferd.control.replicas.topology import DeploymentRoute, Replica, VersionRoute
from llm_files import make_model_module, tiny_gguf

from .conftest import deployment
from .test_openai_relay import GatewayThread, serving_pushed

if os.environ.get("CI") != "true":
    pytest.importorskip("llama_cpp", reason="the llm extra is not installed (make test does)")

pytestmark = pytest.mark.slow

#: Qwen3's switch, on the tiny model's ChatML template: no thinking, an empty thinking block.
THINKING_SWITCH = (
    "{% if enable_thinking is defined and enable_thinking is false %}"
    "{{ '<think>\\n\\n</think>\\n\\n' }}{% endif %}"
)
HI = [{"role": "user", "content": "Hi"}]
OFF = {"chat_template_kwargs": {"enable_thinking": False}}


def thinking_gguf(path: Path) -> Path:
    template: str = make_model_module.CHAT_TEMPLATE
    opening = "{{ '<|im_start|>assistant\\n' }}"
    assert opening in template
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            make_model_module, "CHAT_TEMPLATE", template.replace(opening, opening + THINKING_SWITCH)
        )
        return tiny_gguf(path)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    root = tmp_path_factory.mktemp("template-kwargs")
    models = ((thinking_gguf(root / "think.gguf"), "think:v1"),
              (tiny_gguf(root / "plain.gguf"), "plain:v1"))  # fmt: skip
    with serving_pushed(root / "home", *models) as server:
        yield server


@pytest.fixture(scope="module")
def gateway(served: ServeProcess) -> Iterator[GatewayThread]:
    def routes(replica: Replica) -> list[DeploymentRoute]:
        return [deployment("support-bot", VersionRoute("v1", "think", "think:v1", 100, (replica,)))]

    running = GatewayThread(int(served.url.rsplit(":", 1)[1]), routes)
    yield running
    running.stop()


def prompt_tokens(client: openai.OpenAI, model: str, **extra: object) -> int:
    answer = client.chat.completions.create(
        model=model, messages=HI, max_tokens=1, temperature=0, extra_body=extra or None
    )
    assert answer.usage is not None
    return answer.usage.prompt_tokens


def test_enable_thinking_reaches_the_template(served: ServeProcess) -> None:
    client = openai.OpenAI(base_url=served.url + "/v1", api_key="unused", max_retries=0)
    plain = prompt_tokens(client, "think")
    off = prompt_tokens(client, "think", **OFF)
    assert off > plain  # the empty thinking block was written
    on = {"chat_template_kwargs": {"enable_thinking": True}}
    assert prompt_tokens(client, "think", **on) == plain
    # Streamed the same way.
    stream = client.chat.completions.create(
        model="think", messages=HI, max_tokens=1, stream=True,
        stream_options={"include_usage": True}, extra_body=OFF,
    )  # fmt: skip
    usage = list(stream)[-1].usage
    assert usage is not None and usage.prompt_tokens == off


def test_a_template_that_does_not_read_it_answers_as_without(served: ServeProcess) -> None:
    client = openai.OpenAI(base_url=served.url + "/v1", api_key="unused", max_retries=0)
    assert prompt_tokens(client, "plain", **OFF) == prompt_tokens(client, "plain")


def test_a_variable_inferd_sets_is_refused_by_name(served: ServeProcess) -> None:
    client = openai.OpenAI(base_url=served.url + "/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.BadRequestError) as caught:
        prompt_tokens(client, "think", chat_template_kwargs={"messages": []})
    assert caught.value.param == "chat_template_kwargs.messages"


def test_through_the_gateway(gateway: GatewayThread, served: ServeProcess) -> None:
    direct = openai.OpenAI(base_url=served.url + "/v1", api_key="unused", max_retries=0)
    relayed = openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0)
    assert prompt_tokens(relayed, "support-bot", **OFF) == prompt_tokens(direct, "think", **OFF)
