"""Reading a spec file: YAML text → :class:`~inferd.spec.model.Spec`, every problem located.

The YAML is composed once into nodes (which carry line and column marks) and constructed from
those same nodes, so each pydantic error location (``deployments.0.traffic.weights``) can be
walked back to the node it came from. All problems are reported together — a user fixing a file
should not have to run the validator once per typo.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from inferd.errors import InvalidArgument
from inferd.spec.messages import problem_message, yaml_message
from inferd.spec.model import Spec
from inferd.spec.rules import (
    RULE_ERROR,
    RULE_KEY_ERROR,
    FieldPath,
    Loc,
    read_field,
    spec_problems,
)

#: Errors about a key itself (not its value) point at the key.
_KEY_ERRORS = frozenset({"extra_forbidden", RULE_KEY_ERROR})
_RULE_ERRORS = frozenset({RULE_ERROR, RULE_KEY_ERROR})
#: Errors that make no value untrustworthy: a rule's own problem, or an unknown key.
_UNTAINTING = _RULE_ERRORS | {"extra_forbidden"}
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
    try:
        size = path.stat().st_size
        if size > MAX_SPEC_BYTES:
            raise InvalidArgument(f"{path}: a spec is at most {MAX_SPEC_BYTES} bytes, got {size}")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidArgument(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise InvalidArgument(
            f"{path}: not UTF-8 text (byte {exc.start}); a spec is a YAML file saved as UTF-8"
        ) from None
    except OSError as exc:
        raise InvalidArgument(f"{path}: cannot read it ({type(exc).__name__})") from None
    return parse_spec(text, str(path))


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
        errors += _rules_despite_field_errors(data, errors)
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


def _rules_despite_field_errors(data: Any, errors: list[Any]) -> list[Any]:
    """The cross-field problems whose rules pydantic skipped because of field errors.

    Pydantic runs a model's rules only once all its fields are valid, so a typo in a deployment
    would hide its wrong weight, and an error anywhere every spec-wide rule. When the spec-wide
    rules did not run, they are run here on the fields read from the document, and each
    section with field errors is checked again (:func:`_section_rules_despite_errors`).
    """
    if any(err.get("ctx", {}).get("model") == "Spec" for err in errors):
        return []  # the spec's own rules ran, so every field was valid and every rule ran
    bad = [tuple(err["loc"]) for err in errors if err["type"] not in _RULE_ERRORS]
    found = [
        {"type": RULE_KEY_ERROR if p.at_key else RULE_ERROR, "loc": p.loc, "msg": p.reason}
        for p in spec_problems(partial(_document_field, Spec, data, (), bad))
    ]
    return found + _section_rules_despite_errors(data, errors)


def _document_field(
    model: type[BaseModel], raw: Any, loc: Loc, bad: list[Loc], path: FieldPath
) -> Any:
    """The value at ``path`` of ``raw``, the document's data for ``model`` found at ``loc``.

    As :func:`~inferd.spec.rules.read_field` reads it from a valid spec (an unset key reads as
    its default), but None (no items, for ``"*"``) where the value cannot be trusted: a field
    error at or inside it (one of the ``bad`` locations), or a section or item that is not a
    mapping or list at all. An error that a section's or item's own rules raise at it (a
    gateway's grpc_port clashing with its port) taints none of its fields: those were valid.
    """
    unknown: list[Any] | None = [] if "*" in path else None
    name, rest = path[0], path[1:]
    here = (*loc, name)
    if not isinstance(raw, dict):
        return unknown
    field = model.model_fields[name]
    if name not in raw:  # unset: its default stands (a required key's absence is an error)
        if field.is_required():
            return unknown
        return read_field(field.get_default(call_default_factory=True), rest)
    value = raw[name]
    if not rest:
        if any(err[: len(here)] == here for err in bad):
            return None
        try:
            return _field_adapter(model, name).validate_python(value)
        except ValidationError:  # a model's own field validator let pass what the type does not
            return None
    if rest[0] != "*":
        return _document_field(_model_in(field.annotation), value, here, bad, rest)
    if not isinstance(value, list):
        return []
    item = _model_in(field.annotation)
    return [_document_field(item, v, (*here, i), bad, rest[1:]) for i, v in enumerate(value)]


@cache
def _field_adapter(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    """Validates a value as ``model``'s field ``name`` (its type and constraints) on its own."""
    return TypeAdapter(model.model_fields[name].rebuild_annotation())


def _model_in(annotation: Any) -> type[BaseModel]:
    """The model a field holds: its own type, an optional one's, or its list's items'."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    raise TypeError(f"{annotation} holds no model: a spec-wide rule reads past a plain field")


def _section_rules_despite_errors(data: Any, errors: list[Any]) -> list[Any]:
    """Cross-field problems of the sections (a deployment, its rollout, the cost, the gateway)
    whose rules pydantic skipped because of field errors in them.

    The document is validated again without its bad fields (defaults stand in), and of the
    problems the sections' rules find then, those not reported already are kept unless the rule
    read a field that had an error (:func:`_tainted`): it would be judging the stand-in. An
    unknown key taints nothing: dropping it changes no other value. The spec-wide rules are
    :func:`_rules_despite_field_errors`' own.
    """
    dropped = [tuple(err["loc"]) for err in errors if err["type"] not in _RULE_ERRORS]
    if not isinstance(data, dict) or not dropped:
        return []
    pruned = copy.deepcopy(data)
    for loc in dropped:
        _drop(pruned, loc)
    try:
        Spec.model_validate(pruned)
    except ValidationError as exc:
        rechecked = exc.errors(include_url=False)
    else:
        return []
    bad = [tuple(err["loc"]) for err in errors if err["type"] not in _UNTAINTING]
    reported = {(tuple(err["loc"]), str(err["msg"])) for err in errors}
    return [
        err
        for err in rechecked
        if err["type"] in _RULE_ERRORS
        and err.get("ctx", {}).get("model") != "Spec"
        and (tuple(err["loc"]), str(err["msg"])) not in reported
        and not _tainted(tuple(err["loc"]), err.get("ctx", {}), bad)
    ]


def _tainted(loc: Loc, ctx: dict[str, Any], bad: list[Loc]) -> bool:
    """Whether a rule's problem at ``loc`` read a field with an error (one of ``bad``).

    The context says how deep below its model the problem lies and which fields of the model
    the rule read (:func:`~inferd.spec.rules.raise_problems`); a field is tainted by an error
    at it, inside it, or at a section holding it. A rule naming no fields read them all.
    """
    model = loc[: len(loc) - int(ctx.get("depth", 0))]
    reads = [tuple(path.split(".")) for path in str(ctx.get("reads", "")).split(",") if path]
    for error in bad:
        if error[: len(model)] != model:
            continue
        inside = error[len(model) :]
        if not reads or not inside:
            return True
        if any(inside[: len(r)] == r or r[: len(inside)] == inside for r in reads):
            return True
    return False


def _drop(node: Any, loc: tuple[str | int, ...]) -> None:
    """Remove the mapping key nearest the end of ``loc`` (a bad list item takes its list)."""
    last_key = max((i for i, part in enumerate(loc) if isinstance(part, str)), default=None)
    if last_key is None:
        return
    for part in loc[:last_key]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return
    if isinstance(node, dict):
        node.pop(loc[last_key], None)


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
        return _model_in(annotation)
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
