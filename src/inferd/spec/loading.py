"""Reading a spec file: YAML text → :class:`~inferd.spec.model.Spec`, every problem located.

The YAML is composed once into nodes (which carry line and column marks) and constructed from
those same nodes, so each pydantic error location (``deployments.0.traffic.weights``) can be
walked back to the node it came from. All problems are reported together — a user fixing a file
should not have to run the validator once per typo.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from inferd.errors import InvalidArgument
from inferd.spec.messages import problem_message, yaml_message
from inferd.spec.model import Spec
from inferd.spec.rechecks import model_in, rules_despite_field_errors
from inferd.spec.rules import (
    RULE_KEY_ERROR,
    Loc,
)

#: Errors about a key itself (not its value) point at the key.
_KEY_ERRORS = frozenset({"extra_forbidden", RULE_KEY_ERROR})
#: Largest spec file read (a spec is a few kilobytes; this stops a mistaken huge file early).
MAX_SPEC_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class SpecProblem:
    """One problem in a spec file; ``line`` and ``column`` are 1-based."""

    file: str
    line: int
    column: int
    #: Dotted location inside the document, e.g. ``deployments[0].traffic.weights``.
    path: str
    message: str

    def __str__(self) -> str:
        where = f" {self.path}:" if self.path else ""
        return f"{self.file}:{self.line}:{self.column}:{where} {self.message}"


class SpecError(InvalidArgument):
    """A spec with problems; ``problems`` lists every one, in file order."""

    def __init__(self, problems: list[SpecProblem]) -> None:
        count = len(problems)
        head = f"{problems[0].file}: {count} problem{'s' if count != 1 else ''}"
        super().__init__("\n".join([head, *(f"  {p}" for p in problems)]))
        self.problems = problems


def load_spec(path: Path) -> Spec:
    """Read and validate the spec at ``path``; raise :class:`SpecError` listing every problem.

    Messages name the file by the path given (the user's own), never by a resolved path.
    """
    file = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_SPEC_BYTES:
            message = f"a spec is at most {MAX_SPEC_BYTES} bytes, got {size}"
            raise SpecError([SpecProblem(file, 1, 1, "", message)])
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InvalidArgument(f"{path}: no such file") from None
    except OSError as exc:
        raise InvalidArgument(f"{path}: cannot read it ({type(exc).__name__})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A problem of the file's content, located like any other (and so in --json too).
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        message = f"not UTF-8 text (byte {exc.start}); a spec is a YAML file saved as UTF-8"
        raise SpecError([SpecProblem(file, line, column, "", message)]) from None
    return parse_spec(text, file)


def parse_spec(text: str, file: str = "inferd.yaml") -> Spec:
    """Validate spec ``text``; ``file`` is the name problems are reported against."""
    loader = yaml.SafeLoader(text)
    try:
        _refuse_aliases(text, file)
        node = loader.get_single_node()
        if node is None:
            raise SpecError([SpecProblem(file, 1, 1, "", "the file is empty")])
        problems = _duplicate_keys(node, file)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = SpecProblem(file, line, column, "", yaml_message(exc))
        raise SpecError([problem]) from None
    finally:
        loader.dispose()
    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        errors += rules_despite_field_errors(data, errors)
        problems += [_locate(err, node, file) for err in errors]
    if problems:
        raise SpecError(sorted(problems, key=lambda p: (p.line, p.column)))
    return spec


def _refuse_aliases(text: str, file: str) -> None:
    """Refuse YAML anchors and aliases before anything is composed.

    An alias shares one node between several places, so each walk over the tree visits it once
    per reference: nested aliases grow that geometrically (a 330-byte "billion laughs" spec took
    about a second). A spec is short enough to write out, so both are refused outright, from
    the parser's events, which cost time linear in the text.
    """
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        anchor: str | None = getattr(event, "anchor", None)
        if anchor is not None:  # an AliasEvent names its anchor too
            mark = event.start_mark
            line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            kind = "alias" if isinstance(event, yaml.AliasEvent) else "anchor"
            message = (
                f"YAML {kind} '{anchor}' is not allowed in a spec "
                "(anchors and aliases are refused): write the values out"
            )
            raise SpecError([SpecProblem(file, line, column, "", message)])


def _locate(error: Any, root: yaml.Node, file: str) -> SpecProblem:
    loc: tuple[str | int, ...] = error["loc"]
    node, depth, key_node = root, 0, None
    for part in loc:
        child = _child(node, part)
        if child is None:
            break
        key_node, node = child
        depth += 1
    if error["type"] in _KEY_ERRORS and key_node is not None:
        node = key_node
    mark = node.start_mark
    known, homes = _keys_at(loc) if error["type"] == "extra_forbidden" else ([], [])
    message = problem_message(error, missing=depth < len(loc), known=known, homes=homes)
    return SpecProblem(file, mark.line + 1, mark.column + 1, _dotted(loc), message)


def _keys_at(loc: Loc) -> tuple[list[str], list[str]]:
    """The keys the mapping at ``loc`` takes (its model's fields, by alias), and the keys of it
    whose sections take the key at the end of ``loc`` (``traffic`` for a misplaced ``weights``);
    none if ``loc`` leads to no model."""
    model: type[BaseModel] | None = Spec
    for part in loc[:-1]:
        if isinstance(part, str) and model is not None:
            field = model.model_fields.get(part)
            model = _model_or_none(field.annotation) if field is not None else None
    if model is None:
        return [], []
    fields = model.model_fields.items()
    homes = [
        field.alias or name
        for name, field in fields
        if (inner := _model_or_none(field.annotation)) is not None and loc[-1] in inner.model_fields
    ]
    return [field.alias or name for name, field in fields], homes


def _model_or_none(annotation: Any) -> type[BaseModel] | None:
    try:
        return model_in(annotation)
    except TypeError:
        return None


def _child(node: yaml.Node, part: str | int) -> tuple[yaml.Node | None, yaml.Node] | None:
    """The ``(key node, value node)`` that ``part`` of a location names under ``node``."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                return key, value
    elif (
        isinstance(node, yaml.SequenceNode)
        and isinstance(part, int)
        and 0 <= part < len(node.value)
    ):
        return None, node.value[part]
    return None


def _dotted(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _duplicate_keys(node: yaml.Node, file: str) -> list[SpecProblem]:
    """YAML lets a later key silently replace an earlier one; in a spec that hides a mistake.
    Each repeat is reported at itself, by its path, naming the line of the first."""
    problems: list[SpecProblem] = []
    stack: list[tuple[yaml.Node, Loc]] = [(node, ())]
    while stack:
        current, loc = stack.pop()
        if isinstance(current, yaml.MappingNode):
            first: dict[str, int] = {}
            for key, value in current.value:
                name = key.value if isinstance(key, yaml.ScalarNode) else None
                if name is not None and name in first:
                    mark = key.start_mark
                    problems.append(
                        SpecProblem(
                            file, mark.line + 1, mark.column + 1, _dotted((*loc, name)),
                            f"key {name!r} appears twice in the same mapping "
                            f"(first at line {first[name]})",
                        )
                    )  # fmt: skip
                elif name is not None:
                    first[name] = key.start_mark.line + 1
                stack.append((value, loc if name is None else (*loc, name)))
        elif isinstance(current, yaml.SequenceNode):
            stack.extend((item, (*loc, i)) for i, item in enumerate(current.value))
    return problems
