"""Chat prompts from the model's own chat template (GGUF ``tokenizer.chat_template``), rendered
the way Hugging Face's ``apply_chat_template`` does: Jinja2, in a sandbox (a template is
data from the artifact, never trusted code), with ``messages``, ``add_generation_prompt``,
``bos_token``, ``eos_token``, ``raise_exception`` and ``strftime_now``, the loop controls
(``{% break %}``, ``{% continue %}``), ``{% generation %}`` blocks (Hugging Face marks the
assistant's tokens with them for training; here they render their body), and a ``tojson`` that
writes text as it is (Jinja's own escapes HTML characters) and takes ``json.dumps``' options.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Mapping, Sequence
from typing import NoReturn

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension, loopcontrols
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment

from inferd.errors import InvalidArgument
from inferd.generation import TEMPLATE_VARIABLES, Message


def _raise(message: str) -> NoReturn:
    raise InvalidArgument(f"the model's chat template refused the messages: {message}")


def _strftime_now(format: str) -> str:
    return datetime.datetime.now().strftime(format)


def _tojson(
    value: object,
    ensure_ascii: bool = False,
    indent: int | str | None = None,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
) -> str:
    return json.dumps(
        value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


class _GenerationBlock(Extension):
    """``{% generation %}…{% endgeneration %}``: its body, as it renders outside training."""

    tags = {"generation"}

    def parse(self, parser: Parser) -> nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

    def _body(self, caller: Callable[[], str]) -> str:
        return caller()


class ChatTemplate:
    """A compiled chat template."""

    def __init__(self, source: str, bos: str, eos: str) -> None:
        env = ImmutableSandboxedEnvironment(
            trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols, _GenerationBlock]
        )
        env.globals["raise_exception"] = _raise
        env.globals["strftime_now"] = _strftime_now
        env.filters["tojson"] = _tojson
        try:
            self._template = env.from_string(source)
        except jinja2.TemplateError as exc:
            raise InvalidArgument(f"the model's chat template does not compile: {exc}") from None
        self._bos = bos
        self._eos = eos

    def render(self, messages: Sequence[Message], extra: Mapping[str, object] | None = None) -> str:
        """The prompt for ``messages``, ending where the assistant's answer begins; ``extra``
        are more variables (a request's ``chat_template_kwargs``: ``enable_thinking``…), which
        do not replace the template's own."""
        added = {k: v for k, v in (extra or {}).items() if k not in TEMPLATE_VARIABLES}
        try:
            return self._template.render(
                {
                    **added,
                    "messages": [_message(m) for m in messages],
                    "add_generation_prompt": True,
                    "bos_token": self._bos,
                    "eos_token": self._eos,
                }
            )
        except InvalidArgument:
            raise
        except (jinja2.TemplateError, TypeError, ValueError) as exc:  # a template's own error
            raise InvalidArgument(
                f"the model's chat template failed on the messages: {exc}"
            ) from None


def _message(message: Message) -> dict[str, str]:
    """``message`` as the template reads it: ``name`` only when the client gave one, as vLLM and
    Hugging Face pass it (a template tests ``message.name is defined``)."""
    fields = {"role": message.role, "content": message.content}
    if message.name is not None:
        fields["name"] = message.name
    return fields
