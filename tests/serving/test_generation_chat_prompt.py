"""``ServedGenerator.chat_prompt``, the one path the protocols take to a chat prompt: a request's
template variables (vLLM's ``chat_template_kwargs``) reach the model's chat template through it.
The generator is the protocols' scripted one, whose template writes its variables out. The
template renders, and a JSON schema's grammar is built, off the event loop: 200,000 messages
rendered on it held every other request (health checks included) for 4 s."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping, Sequence

from prometheus_client import CollectorRegistry

from inferd.generation import Message, Sampling
from inferd.observe.llm_metrics import LlmMetrics
from inferd.serving.generation import ServedGenerator
from protocols.openai.conftest import ScriptedGenerator


def served(generator: ScriptedGenerator) -> ServedGenerator:
    return ServedGenerator("parrot", "3", generator, LlmMetrics(CollectorRegistry()), 0)


def test_the_requests_template_variables_reach_the_template() -> None:
    parrot = served(ScriptedGenerator("parrot"))
    hi = [Message("user", "Hi")]
    assert asyncio.run(parrot.chat_prompt(hi)) == "<user>Hi<assistant>"
    assert asyncio.run(parrot.chat_prompt(hi, {"enable_thinking": False})) == (
        "<user>Hi<enable_thinking=False><assistant>"
    )


class _Recorded(ScriptedGenerator):
    """Records the threads its template and its sampling check ran on."""

    def __init__(self) -> None:
        super().__init__("parrot")
        self.threads: list[threading.Thread] = []

    def chat_prompt(
        self, messages: Sequence[Message], template_kwargs: Mapping[str, object] | None = None
    ) -> str:
        self.threads.append(threading.current_thread())
        return super().chat_prompt(messages, template_kwargs)

    def check_sampling(self, sampling: Sampling) -> None:
        self.threads.append(threading.current_thread())


def test_the_template_and_the_grammar_are_prepared_off_the_loop() -> None:
    generator = _Recorded()
    parrot = served(generator)

    async def main() -> None:
        await parrot.chat_prompt([Message("user", "Hi")])
        await parrot.check(Sampling(json_schema='{"type": "object"}'))
        await parrot.check(Sampling())  # no schema: nothing to prepare, no thread

    asyncio.run(main())
    loop_thread = threading.current_thread()
    assert len(generator.threads) == 2
    assert all(thread is not loop_thread for thread in generator.threads)
