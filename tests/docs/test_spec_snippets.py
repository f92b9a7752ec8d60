"""Every inferd.yaml snippet the docs show is a valid spec, so a reader who copies one into
their file gets no error from ``inferd spec validate``.

A ``yaml`` block whose top-level keys are all keys of a spec (``deployments``, ``cost``…) or
all keys of a deployment (``rollout``, ``autoscaling``…) is a spec snippet; other YAML (a
Kubernetes overlay, a Prometheus scrape config, a server's ``--config``) is not read here. A
snippet without ``apiVersion`` is a part: it goes into a small spec of one deployment, ``fraud``
serving ``fraud:v1``, in the place its keys say, as a reader adds it to the quickstart's file.
Each also passes the JSON Schema editors check it with (docs/inferd.schema.json), so an editor
flags nothing in it either.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from inferd.spec.loading import SpecError, parse_spec
from inferd.spec.model import DeploymentSpec, Spec

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([*(ROOT / "docs").glob("*.md"), ROOT / "README.md",
               *(ROOT / "examples").glob("**/README.md")])  # fmt: skip
BLOCK = re.compile(r"^```ya?ml[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
SPEC_KEYS = {field.alias or name for name, field in Spec.model_fields.items()}
DEPLOYMENT_KEYS = set(DeploymentSpec.model_fields)


def base() -> dict[str, Any]:
    """The spec a part is added to: one deployment of one version."""
    deployment = {"name": "fraud", "versions": [{"name": "v1", "model": "fraud:v1"}]}
    return {"apiVersion": "inferd.dev/v1", "kind": "Stack", "deployments": [deployment]}


def as_spec(snippet: Any) -> str | None:
    """The whole spec text a snippet stands for, or None when it is not a spec snippet."""
    if not isinstance(snippet, dict) or not snippet:
        return None
    keys = set(snippet)
    if "apiVersion" in keys:
        return None  # a whole spec: validated as written
    spec = base()
    if keys <= DEPLOYMENT_KEYS:
        spec["deployments"][0].update(snippet)
    elif keys <= SPEC_KEYS:
        fraud = spec["deployments"][0]
        for key, value in snippet.items():
            # A deployment shown without its versions is one more section of fraud's.
            spec[key] = (
                [d if "versions" in d else {**fraud, **d} for d in value]
                if key == "deployments" and isinstance(value, list)
                else value
            )
    else:
        return None
    return yaml.safe_dump(spec, sort_keys=False)


def snippets() -> list[tuple[str, str]]:
    """(where, spec text) of every spec snippet in the docs."""
    found: list[tuple[str, str]] = []
    for markdown in DOCS:
        text = markdown.read_text(encoding="utf-8")
        for block in BLOCK.finditer(text):
            where = f"{markdown.relative_to(ROOT)}:{text[: block.start()].count(chr(10)) + 1}"
            body = textwrap.dedent(block.group(1))
            parsed = yaml.safe_load(body)
            whole = body if isinstance(parsed, dict) and "apiVersion" in parsed else None
            spec = whole or as_spec(parsed)
            if spec is not None:
                found.append((where, spec))
    return found


SNIPPETS = snippets()


def test_the_docs_spec_snippets_are_found() -> None:
    """The finder reads the snippets of the spec, rollout, autoscaling, cost and LLM pages."""
    pages = {where.split(":")[0] for where, _ in SNIPPETS}
    assert {"docs/spec.md", "docs/rollouts.md", "docs/autoscaling.md", "docs/cost.md",
            "docs/llm.md"} <= pages  # fmt: skip


@pytest.mark.parametrize(("where", "spec"), SNIPPETS, ids=[where for where, _ in SNIPPETS])
def test_a_spec_snippet_in_the_docs_validates(where: str, spec: str) -> None:
    try:
        parse_spec(spec, where)
    except SpecError as exc:
        pytest.fail(f"{exc}\n--- as validated:\n{spec}")
    schema = json.loads((ROOT / "docs" / "inferd.schema.json").read_text(encoding="utf-8"))
    errors = jsonschema.Draft202012Validator(schema).iter_errors(yaml.safe_load(spec))
    assert not [f"{list(e.absolute_path)}: {e.message}" for e in errors]
