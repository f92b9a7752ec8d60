"""The docs' YAML for files other than the spec load as the program reads them, so a reader who
copies one gets no error for a key that does not exist or a value it does not take.

A ``yaml`` block whose first line names the file (``# inferd.k8s.yaml``, a render overlay;
``# inferd serve … --config serve.yaml``, a server's settings) or whose top level is ``nodes:``
(a nodes file for ``inferd gpu plan``) is read by that file's own loader. Spec snippets are
tests/docs/test_spec_snippets.py's.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from inferd.config import ServerSettings
from inferd.deploy.gpu_plan import load_nodes
from inferd.deploy.k8s_options import load_options
from inferd.settings_file import load_settings

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([*(ROOT / "docs").glob("*.md"), ROOT / "README.md",
               *(ROOT / "examples").glob("**/README.md")])  # fmt: skip
BLOCK = re.compile(r"^```ya?ml[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)

LOADERS: dict[str, Callable[[Path], object]] = {
    "overlay": lambda path: load_options(path, {}),
    "settings": lambda path: load_settings(ServerSettings, file=path, environ={}),
    "nodes": load_nodes,
}


def kind(body: str) -> str | None:
    """Which file a block is, by its first line or its top level."""
    first = body.lstrip().splitlines()[0] if body.strip() else ""
    if re.fullmatch(r"#\s*inferd\.k8s\.yaml.*", first):
        return "overlay"
    if re.fullmatch(r"#\s*inferd serve .*--config \S+.*", first):
        return "settings"
    parsed = yaml.safe_load(body)
    return "nodes" if isinstance(parsed, dict) and set(parsed) == {"nodes"} else None


def snippets() -> list[tuple[str, str, str]]:
    """(where, kind, body) of every such block in the docs."""
    found: list[tuple[str, str, str]] = []
    for markdown in DOCS:
        text = markdown.read_text(encoding="utf-8")
        for block in BLOCK.finditer(text):
            body = textwrap.dedent(block.group(1))
            what = kind(body)
            if what is not None:
                line = text[: block.start()].count("\n") + 1
                found.append((f"{markdown.relative_to(ROOT)}:{line}", what, body))
    return found


SNIPPETS = snippets()


def test_the_docs_config_snippets_are_found() -> None:
    """The overlays of kubernetes.md and alerts.md, api.md's settings, kubernetes.md's nodes."""
    assert {(where.split(":")[0], what) for where, what, _ in SNIPPETS} >= {
        ("docs/kubernetes.md", "overlay"),
        ("docs/alerts.md", "overlay"),
        ("docs/api.md", "settings"),
        ("docs/kubernetes.md", "nodes"),
    }


@pytest.mark.parametrize(("where", "what", "body"), SNIPPETS, ids=[s[0] for s in SNIPPETS])
def test_a_config_snippet_in_the_docs_loads(
    where: str, what: str, body: str, tmp_path: Path
) -> None:
    path = tmp_path / f"{what}.yaml"
    path.write_text(body, encoding="utf-8")
    LOADERS[what](path)
