"""OpenAI's parameters inferd does not implement, and which of their values it still takes
(those asking for what OpenAI does by default, which inferd does too)."""

from __future__ import annotations

from dataclasses import dataclass

import orjson


@dataclass(frozen=True, slots=True)
class Unsupported:
    """An OpenAI parameter inferd does not implement. Null passes, and so do the values in
    ``accepted``: those that ask for what OpenAI does by default, which inferd does too. Any
    other value is refused: with ``accepted`` empty (the parameter has no default inferd keeps
    to) as not supported, saying ``why``; else naming the value (or ``shown``, a value better
    not echoed) and what inferd takes (``why``)."""

    why: str
    accepted: tuple[object, ...] = ()
    shown: str | None = None

    def refusal(self, value: object) -> str | None:
        """Why ``value`` is refused (None: it is accepted)."""
        if value is None or value in self.accepted:
            return None
        if not self.accepted:
            return f"not supported by inferd ({self.why}); leave it out"
        return f"{self.shown or _json(value)} is not supported by inferd (only {self.why})"


def _json(value: object) -> str:
    """``value`` as JSON, cut at 60 characters."""
    text = orjson.dumps(value).decode()
    return f"{text[:60]}…" if len(text) > 60 else text


#: Chat parameters inferd does not implement, by field, in the fields' order (the first refused
#: is named). ``parallel_tool_calls`` is not here: tools are never called (``tool_choice``
#: ``"none"`` only), so it changes nothing.
CHAT_UNSUPPORTED: dict[str, Unsupported] = {
    "store": Unsupported("false, OpenAI's default", (False,)),
    "service_tier": Unsupported('"auto" or "default": OpenAI\'s default tier', ("auto", "default")),
    "modalities": Unsupported('["text"], OpenAI\'s default', (["text"],)),
    "verbosity": Unsupported('"medium", OpenAI\'s default', ("medium",)),
    "reasoning_effort": Unsupported("the models served do not take a reasoning effort"),
    "audio": Unsupported("no audio output"),
    "prediction": Unsupported("no predicted outputs"),
    "web_search_options": Unsupported("no web search"),
    "moderation": Unsupported("no moderation of input or output"),
    "prompt_cache_retention": Unsupported(
        '"in_memory": cached prefixes stay in memory while a free slot keeps them',
        ("in_memory",),
    ),
    "prompt_cache_options": Unsupported(
        '{"mode": "implicit", "ttl": "30m"}, OpenAI\'s default, or part of it',
        ({}, {"mode": "implicit"}, {"ttl": "30m"}, {"mode": "implicit", "ttl": "30m"}),
    ),
    "functions": Unsupported("an empty list", ([],), shown="function calling"),
    "function_call": Unsupported('"none", OpenAI\'s default without functions', ("none",)),
}
