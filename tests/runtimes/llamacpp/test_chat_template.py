"""Chat templates render as Hugging Face's ``apply_chat_template`` renders them: the same Jinja
extensions (``{% break %}``/``{% continue %}``, ``{% generation %}``), ``tojson`` writing text
as it is, and ``strftime_now``. A template that uses them is a model's own template (Qwen's,
Llama 3's, SmolLM's…): refusing it refused to load the whole model."""

from __future__ import annotations

import datetime

import orjson
import pytest

from inferd.errors import InvalidArgument
from inferd.generation import Message
from inferd.runtimes.llamacpp.chat import ChatTemplate

TALK = [Message("system", "Be brief."), Message("user", "Hi <b> & é"), Message("user", "Again")]


def render(source: str, messages: list[Message] = TALK) -> str:
    return ChatTemplate(source, "<s>", "</s>").render(messages)


def test_loop_controls() -> None:
    source = (
        "{% for m in messages %}{% if m.role == 'system' %}{% continue %}{% endif %}"
        "[{{ m.content }}]{% break %}{% endfor %}"
    )
    assert render(source) == "[Hi <b> & é]"


def test_generation_blocks_render_their_body() -> None:
    source = (
        "{% for m in messages %}{{ m.role }}: "
        "{% if m.role == 'assistant' %}{% generation %}{{ m.content }}{% endgeneration %}"
        "{% else %}{{ m.content }}{% endif %}{{ '\\n' }}{% endfor %}"
    )
    messages = [Message("user", "Hi"), Message("assistant", "Hello")]
    assert render(source, messages) == "user: Hi\nassistant: Hello\n"


def test_tojson_writes_text_as_it_is() -> None:
    assert render("{{ messages[1].content | tojson }}") == '"Hi <b> & é"'
    indented = render("{{ messages[1] | tojson(indent=2) }}")
    assert orjson.loads(indented) == {"role": "user", "content": "Hi <b> & é"}
    assert "\n  " in indented


def test_strftime_now() -> None:
    before = datetime.datetime.now().strftime("%d %b %Y")
    said = render("{{ strftime_now('%d %b %Y') }}")
    assert said in (before, datetime.datetime.now().strftime("%d %b %Y"))


def test_a_template_that_fails_on_the_messages_says_so() -> None:
    # A template's own mistake (here: JSON of a key the messages lack) is the model's, named.
    with pytest.raises(InvalidArgument, match="chat template failed on the messages"):
        render("{{ messages[0].tools | tojson }}")


def test_a_message_name_is_in_the_message_only_when_given() -> None:
    # As vLLM and Hugging Face hand a message to the template: ``name`` only where it was sent.
    source = (
        "{% for m in messages %}{% if m.name is defined %}{{ m.name }}: {% endif %}"
        "{{ m.content }};{% endfor %}"
    )
    messages = [Message("user", "Hi", "alice"), Message("assistant", "Hello")]
    assert render(source, messages) == "alice: Hi;Hello;"
    assert orjson.loads(render("{{ messages[1] | tojson }}", messages)) == {
        "role": "assistant",
        "content": "Hello",
    }


def test_a_requests_variables_reach_the_template_beside_its_own() -> None:
    # A request's chat_template_kwargs (vLLM's): Qwen3's switch reads enable_thinking.
    source = (
        "{{ messages | length }}{{ bos_token }}{% if enable_thinking is defined and "
        "enable_thinking is false %}<think></think>{% endif %}{{ raise_exception is callable }}"
    )
    template = ChatTemplate(source, "<s>", "</s>")
    assert template.render(TALK) == "3<s>True"
    assert template.render(TALK, {"enable_thinking": False}) == "3<s><think></think>True"
    # The variables the runtime sets itself are its own, whatever a caller adds.
    own = {"messages": [], "bos_token": "X", "raise_exception": "no"}
    assert template.render(TALK, own) == "3<s>True"
