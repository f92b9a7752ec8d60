"""``ServedGenerator.chat_prompt``, the one path the protocols take to a chat prompt: a request's
template variables (vLLM's ``chat_template_kwargs``) reach the model's chat template through it.
The generator is the protocols' scripted one, whose template writes its variables out."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from inferd.generation import Message
from inferd.observe.llm_metrics import LlmMetrics
from inferd.serving.generation import ServedGenerator
from protocols.openai.conftest import ScriptedGenerator


def test_the_requests_template_variables_reach_the_template() -> None:
    metrics = LlmMetrics(CollectorRegistry())
    served = ServedGenerator("parrot", "3", ScriptedGenerator("parrot"), metrics, 0)
    hi = [Message("user", "Hi")]
    assert served.chat_prompt(hi) == "<user>Hi<assistant>"
    assert served.chat_prompt(hi, {"enable_thinking": False}) == (
        "<user>Hi<enable_thinking=False><assistant>"
    )
