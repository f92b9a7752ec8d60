"""docs/inferd.schema.json and the loader agree: an editor using the schema never flags a spec
that `inferd spec validate` accepts, and flags every value of the wrong type or out of range
that the loader refuses.

Each example spec (the one docs/spec.md shows, the bundled examples) is mutated at every field —
each value replaced by values of other types and ranges, each mapping given an unknown key,
each key removed — and both judge every mutant. The schema cannot express the rules across
fields (weights adding up to 100) nor the checks of a value's meaning (a store reference's
grammar, a memory's unit, an SLO window of at least a day): those the loader alone reports,
as ``spec_rule`` or ``value_error`` problems. Every other problem the loader finds (a type, a
range, a pattern, an enum, an unknown or missing key), the schema finds too.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic import ValidationError

from inferd.spec.loading import SpecError, parse_spec
from inferd.spec.model import Spec, json_schema

from .conftest import ONE_DEPLOYMENT, QUICKSTART, ROOT

#: Problems only the loader can find: rules across fields, and what a custom check of a value's
#: meaning refuses (references, memory units, an SLO window, a sink naming exactly one kind).
LOADER_ONLY = frozenset({"spec_rule", "spec_rule_key", "value_error"})

#: Values of every type and of edge ranges, each tried in place of every field.
MUTANTS: tuple[object, ...] = (
    "2", "true", True, False, 2.5, 2.0, 0.5, -1, 0, 1, 100, 10**6, None, [], {}, [1], {"a": 1},
    "", "x", "1s", "500m", "1Gi", "cpu", "http://collector:8080/x",
)  # fmt: skip


def _examples() -> list[dict[str, Any]]:
    spec_md = (ROOT / "docs" / "spec.md").read_text(encoding="utf-8")
    found = re.search(r"```yaml\n(# yaml-language-server.*?)```", spec_md, re.S)
    assert found is not None, "docs/spec.md shows the whole spec in its first yaml block"
    texts = [
        found.group(1),
        (QUICKSTART / "inferd.yaml").read_text(encoding="utf-8"),
        (ROOT / "examples" / "llm" / "inferd.yaml").read_text(encoding="utf-8"),
    ]
    return [yaml.safe_load(text) for text in texts]


EXAMPLES = _examples()
VALIDATOR = jsonschema.Draft202012Validator(json_schema())


def _leaves(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """Every path into ``value``: mappings' keys, lists' items, and the leaves below."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*path, key)
            yield from _leaves(child, (*path, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield (*path, i)
            yield from _leaves(child, (*path, i))


def _at(document: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        document = document[part]
    return document


def _mutants(example: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """``(what was changed, the mutated document)`` for every field of ``example``."""
    for path in _leaves(example):
        parent = _at(example, path[:-1])
        for value in MUTANTS:
            mutant = copy.deepcopy(example)
            _at(mutant, path[:-1])[path[-1]] = value
            yield f"{path} = {value!r}", mutant
        if isinstance(parent, dict):
            mutant = copy.deepcopy(example)
            del _at(mutant, path[:-1])[path[-1]]
            yield f"{path} removed", mutant
        if isinstance(_at(example, path), dict):
            mutant = copy.deepcopy(example)
            _at(mutant, path)["replica"] = 1
            yield f"{path}.replica (unknown key)", mutant


def _loader_errors(document: Any) -> list[str]:
    """The types of the problems the spec's models find (what ``parse_spec`` reports, less
    the YAML-level checks: repeated keys, anchors)."""
    try:
        Spec.model_validate(document)
    except ValidationError as exc:
        return [str(err["type"]) for err in exc.errors()]
    return []


@pytest.mark.parametrize("example", range(len(EXAMPLES)))
def test_schema_and_loader_agree_on_every_mutant(example: int) -> None:
    base = EXAMPLES[example]
    assert VALIDATOR.is_valid(base)
    assert _loader_errors(base) == []
    disagreements = []
    for what, mutant in _mutants(base):
        schema_ok = VALIDATOR.is_valid(mutant)
        errors = _loader_errors(mutant)
        if not errors and not schema_ok:
            why = next(iter(VALIDATOR.iter_errors(mutant))).message[:120]
            disagreements.append(f"{what}: the loader accepts it, the schema refuses: {why}")
        typed = [e for e in errors if e not in LOADER_ONLY]
        if typed and schema_ok:
            disagreements.append(f"{what}: the schema accepts it, the loader refuses: {typed}")
    assert disagreements == []


@pytest.mark.parametrize(
    ("tail", "message"),
    [
        ("    autoscaling: {max_replicas: '2'}\n", "autoscaling.max_replicas: expected a whole"),
        ("    autoscaling: {max_replicas: true}\n", "autoscaling.max_replicas: expected a whole"),
        ("    batching: {max_batch_size: '8'}\n", "batching.max_batch_size: expected a whole"),
        ("gateway: {auth: {public_metrics: 'yes'}}\n", "public_metrics: expected true or false"),
        ("    autoscaling: {target: .inf}\n", "autoscaling.target: should be a finite number"),
    ],
)
def test_a_value_of_another_type_is_refused_as_the_schema_does(tail: str, message: str) -> None:
    document = ONE_DEPLOYMENT + tail
    if ".inf" not in tail:  # JSON has no infinity: an editor sees no number there at all
        assert not VALIDATOR.is_valid(yaml.safe_load(document))
    with pytest.raises(SpecError) as caught:
        parse_spec(document, "s.yaml")
    assert message in str(caught.value)


def test_a_whole_number_written_as_a_float_is_that_number() -> None:
    """JSON Schema counts 2.0 as the integer 2, so the loader does too."""
    document = ONE_DEPLOYMENT.replace('model: "fraud:v1"', 'model: "fraud:v1", replicas: 2.0')
    assert VALIDATOR.is_valid(yaml.safe_load(document))
    assert parse_spec(document).deployments[0].versions[0].replicas == 2


@pytest.mark.parametrize(
    "resources",
    ["{cpu: 0}", "{cpu: '0'}", "{cpu: '0m'}", "{cpu: -1}", "{memory: 512}", "{memory: '0Gi'}"],
)
def test_the_schema_refuses_a_quantity_the_loader_refuses(resources: str) -> None:
    """A zero quantity, or a memory written as a bare number of bytes below 1 MiB."""
    document = ONE_DEPLOYMENT + f"    resources: {resources}\n"
    assert not VALIDATOR.is_valid(yaml.safe_load(document))
    with pytest.raises(SpecError):
        parse_spec(document)


@pytest.mark.parametrize("resources", ["{cpu: 0.5}", "{cpu: '500m'}", "{memory: 1073741824}"])
def test_the_schema_takes_a_quantity_the_loader_takes(resources: str) -> None:
    document = ONE_DEPLOYMENT + f"    resources: {resources}\n"
    assert VALIDATOR.is_valid(yaml.safe_load(document))
    parse_spec(document)
