"""A spec problem in words: what pydantic found, said as a YAML file's author reads it.

Pydantic's own messages speak of "Input" and its types (``Input should be a valid integer``);
these say what the field takes and what the file has (``expected a whole number, got '2' (write
the number without quotes)``), and for an unknown key, the keys that section does know.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

import yaml

from inferd.spec.cost import CURRENCY_PATTERN
from inferd.spec.model import REGISTRY_HOST_PATTERN, REGISTRY_PATTERN
from inferd.spec.observability import HTTP_URL_PATTERN
from inferd.spec.rules import RULE_ERROR, RULE_KEY_ERROR
from inferd.spec.types import HEADER_PATTERN

#: What a value of each type pydantic checks is, in the words of a YAML file.
_EXPECTED = {
    "int_type": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "text",
    "dict_type": "a mapping (key: value)",
    "model_type": "a mapping (key: value)",
    "list_type": "a list",
}
#: What a text field's pattern takes, in words (pydantic would quote the regular expression).
_PATTERNS = {
    CURRENCY_PATTERN: "an ISO 4217 currency code: three capital letters, e.g. 'USD' or 'EUR'",
    HTTP_URL_PATTERN: "an http:// or https:// URL with a host, e.g. 'http://collector:4318'",
    HEADER_PATTERN: "an HTTP header name: letters, digits and !#$%&'*+.^_`|~- (no spaces or ':')",
    REGISTRY_HOST_PATTERN: "a registry's HOST[:PORT], e.g. 'registry.example.com:5000'",
    REGISTRY_PATTERN: "a registry's HOST[:PORT] with an optional lower-case path, e.g. "
    "'registry.example.com/ml'",
}


def problem_message(
    error: Any, *, missing: bool = False, known: Sequence[str] = (), homes: Sequence[str] = ()
) -> str:
    """The message of pydantic ``error``. ``missing``: its location is not in the file (a
    required key left out); ``known``: the keys of the mapping holding an unknown key;
    ``homes``: those of its keys whose sections take that key (it is indented wrongly)."""
    kind = error["type"]
    loc = error["loc"]
    if missing and kind == "missing":
        return f"required key {loc[-1]!r} is missing"
    if kind in (RULE_ERROR, RULE_KEY_ERROR):
        return str(error["msg"])
    if kind == "extra_forbidden":
        return _unknown_key(str(loc[-1]), known, homes)
    value = error.get("input")
    if kind in _EXPECTED:
        if not loc:
            return f"a spec is a mapping of apiVersion, kind, deployments…; got {_shown(value)}"
        return f"expected {_EXPECTED[kind]}, got {_shown(value)}{_hint(kind, value)}"
    # pydantic words custom validator errors "Value error, …"; the prefix says nothing here.
    text = str(error["msg"]).removeprefix("Value error, ").replace(" after validation", "")
    if text.startswith("Input should be"):  # a range or a choice: say what was written too
        text = f"{text.removeprefix('Input ')}, got {_shown(value)}"
    elif kind == "string_pattern_mismatch" and error["ctx"]["pattern"] in _PATTERNS:
        text = f"{_shown(value)} is not {_PATTERNS[error['ctx']['pattern']]}"
    elif kind.startswith("string_"):  # a pattern, a length
        text = f"{text}, got {_shown(value)}"
    return text


def yaml_message(error: yaml.MarkedYAMLError) -> str:
    """A YAML syntax error, with where the construct it broke began (a flow mapping's ``{``, a
    quoted string's opening quote) and, for the usual causes, how to mend it."""
    text = f"not valid YAML: {error.problem}"
    start, at = error.context_mark, error.problem_mark
    if error.context and start is not None and (at is None or start.line != at.line):
        text += f" ({error.context} from line {start.line + 1}, column {start.column + 1})"
    problem = error.problem or ""
    if "'\\t'" in problem:
        text += "; indent with spaces: YAML does not allow tabs"
    elif "block end" in problem or "mapping values are not allowed" in problem:
        text += "; check the indentation, and quote a value that holds ': '"
    return text


def _unknown_key(key: str, known: Sequence[str], homes: Sequence[str]) -> str:
    text = "unknown key (not part of the spec; check its spelling and indentation)"
    if homes:
        under = " or ".join(f"{home}:" for home in homes)
        return f"unknown key here: {key!r} belongs under {under} (check its indentation)"
    if not known:
        return text
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        return f"unknown key: did you mean {close[0]!r}? (check its spelling and indentation)"
    return f"{text}; this section takes {', '.join(known)}"


def _shown(value: object) -> str:
    """A value as the YAML file has it, for a message."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value) if isinstance(value, str | int | float) else str(value)


def _hint(kind: str, value: object) -> str:
    """How to write a quoted number as a number, or a number as text."""
    if kind in ("int_type", "float_type") and isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return ""
        return " (write the number without quotes)"
    if kind == "string_type" and isinstance(value, int | float | bool):
        return " (quote it to make it text)"
    return ""
