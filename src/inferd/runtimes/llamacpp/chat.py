"""Chat prompts from the model's own chat template (GGUF ``tokenizer.chat_template``), rendered
the way Hugging Face's ``apply_chat_template`` does: Jinja2, in a sandbox (a template is
data from the artifact, never trusted code), with ``messages``, ``add_generation_prompt``,
``bos_token``, ``eos_token`` and ``raise_exception``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from inferd.errors import InvalidArgument
from inferd.generation import Message


def _raise(message: str) -> NoReturn:
    raise InvalidArgument(f"the model's chat template refused the messages: {message}")


class ChatTemplate:
    """A compiled chat template."""

    def __init__(self, source: str, bos: str, eos: str) -> None:
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = _raise
        try:
            self._template = env.from_string(source)
        except jinja2.TemplateError as exc:
            raise InvalidArgument(f"the model's chat template does not compile: {exc}") from None
        self._bos = bos
        self._eos = eos

    def render(self, messages: Sequence[Message]) -> str:
        """The prompt for ``messages``, ending where the assistant's answer begins."""
        try:
            return self._template.render(
                messages=[{"role": m.role, "content": m.content} for m in messages],
                add_generation_prompt=True,
                bos_token=self._bos,
                eos_token=self._eos,
            )
        except InvalidArgument:
            raise
        except jinja2.TemplateError as exc:
            raise InvalidArgument(
                f"the model's chat template failed on the messages: {exc}"
            ) from None
