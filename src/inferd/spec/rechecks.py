"""The rules pydantic skipped: cross-field problems judged despite field errors elsewhere.

Pydantic runs a model's rules only once all its fields are valid, so a typo in a deployment
would hide its wrong weight, and an error anywhere every spec-wide rule. :mod:`.loading` reports
those field errors, then asks here for the rules that can still be judged on the valid fields
(:func:`rules_despite_field_errors`); a rule that read a bad field is not judged, since it would
be judging the value standing in for it.
"""

from __future__ import annotations

import copy
from functools import cache, partial
from typing import Any, get_args

from pydantic import BaseModel, TypeAdapter, ValidationError

from inferd.spec.model import Spec
from inferd.spec.rules import RULE_ERROR, RULE_KEY_ERROR, FieldPath, Loc, read_field, spec_problems

_RULE_ERRORS = frozenset({RULE_ERROR, RULE_KEY_ERROR})
#: Errors that make no value untrustworthy: a rule's own problem, or an unknown key.
_UNTAINTING = _RULE_ERRORS | {"extra_forbidden"}
#: How many times a re-check fills the holes that dropping bad fields left (the spec's depth).
_MAX_ROUNDS = 8


def rules_despite_field_errors(data: Any, errors: list[Any]) -> list[Any]:
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
        return _document_field(model_in(field.annotation), value, here, bad, rest)
    if not isinstance(value, list):
        return []
    item = model_in(field.annotation)
    return [_document_field(item, v, (*here, i), bad, rest[1:]) for i, v in enumerate(value)]


@cache
def _field_adapter(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    """Validates a value as ``model``'s field ``name`` (its type and constraints) on its own."""
    return TypeAdapter(model.model_fields[name].rebuild_annotation())


def model_in(annotation: Any) -> type[BaseModel]:
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

    Pydantic skips a section's rules while anything inside it is invalid, so what the drops
    leave invalid would still hide them (``slo`` without its required ``availability`` hid the
    deployment's weights). Round by round, a required field left missing is filled from a
    sibling list item (a version's model by another version's), else the section or item
    holding it is dropped, and a section whose own rule judged a stand-in (a log sink left
    with neither ``file`` nor ``http``) is dropped; each counts as bad from then on.
    """
    dropped = [tuple(err["loc"]) for err in errors if err["type"] not in _RULE_ERRORS]
    if not isinstance(data, dict) or not dropped:
        return []
    pruned = copy.deepcopy(data)
    for loc in dropped:
        _drop(pruned, loc)
    bad = [tuple(err["loc"]) for err in errors if err["type"] not in _UNTAINTING]
    reported = {(tuple(err["loc"]), str(err["msg"])) for err in errors}
    found: dict[tuple[Loc, str], Any] = {}
    for _ in range(_MAX_ROUNDS):
        try:
            Spec.model_validate(pruned)
        except ValidationError as exc:
            rechecked = exc.errors(include_url=False)
        else:
            break
        holes = {tuple(e["loc"]) for e in rechecked if e["type"] == "missing"}
        rules = [e for e in rechecked if e["type"] in _RULE_ERRORS and e["ctx"]["model"] != "Spec"]
        for err in rules:
            key = (tuple(err["loc"]), str(err["msg"]))
            if key not in reported and not _tainted(key[0], err["ctx"], bad):
                found.setdefault(key, err)
        # What the drops left invalid: every field error now is one.
        left = [tuple(e["loc"]) for e in rechecked if e["type"] not in _RULE_ERRORS]
        left += [_rule_model(e) for e in rules if _tainted(tuple(e["loc"]), e["ctx"], bad)]
        if not any(left):
            break
        bad += [_stand_in(pruned, loc, fill=loc in holes) for loc in left if loc]
    return list(found.values())


def _rule_model(error: Any) -> Loc:
    """Where the model whose rule raised ``error`` is."""
    loc: Loc = tuple(error["loc"])
    return loc[: len(loc) - int(error["ctx"].get("depth", 0))]


def _stand_in(pruned: dict[str, Any], hole: Loc, *, fill: bool) -> Loc:
    """Make ``hole`` valid in ``pruned``: with ``fill`` (a required field left missing), from a
    sibling list item that has it, else by dropping it, or the section that needs it; where
    the stand-in is."""
    if not fill or len(hole) < 2:
        return _drop(pruned, hole)
    parent, key = hole[:-1], hole[-1]
    items: Any = pruned
    for part in parent[:-1]:
        try:
            items = items[part]
        except (KeyError, IndexError, TypeError):
            return hole
    index = parent[-1]
    if isinstance(index, int) and isinstance(items, list) and index < len(items):
        item = items[index]
        donor = next((i for i in items if isinstance(i, dict) and key in i), None)
        if isinstance(item, dict) and donor is not None:
            item[key] = copy.deepcopy(donor[key])
            return hole
    return _drop(pruned, parent)


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


def _drop(node: Any, loc: tuple[str | int, ...]) -> Loc:
    """Remove the mapping key nearest the end of ``loc`` (a bad list item takes its list);
    where the key was."""
    last_key = max((i for i, part in enumerate(loc) if isinstance(part, str)), default=None)
    if last_key is None:
        return loc
    for part in loc[:last_key]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return loc
    if isinstance(node, dict):
        node.pop(loc[last_key], None)
    return loc[: last_key + 1]
