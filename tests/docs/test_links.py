"""Every relative link in the user docs leads somewhere a reader of the repository can open.

A link names a committed file (not one that is missing, nor one only a test or benchmark run
writes into an ignored directory), and its ``#anchor`` names a heading of that file, slugged as
GitHub renders it.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted(
    [
        *(ROOT / "docs").glob("*.md"),
        ROOT / "README.md",
        *(ROOT / "examples").glob("**/README.md"),
    ]
)
LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(markdown: Path) -> set[str]:
    """The anchors of a file's headings, outside code blocks; repeats get GitHub's ``-N``."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    fenced = False
    for line in markdown.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        match = None if fenced else HEADING.match(line)
        if match is None:
            continue
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def ignored(path: Path) -> bool:
    """Whether git ignores ``path`` (written by a run, never committed)."""
    result = subprocess.run(
        ["git", "check-ignore", "-q", str(path)], cwd=ROOT, capture_output=True, check=False
    )
    return result.returncode == 0


def links(markdown: Path) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    fenced = False
    for number, line in enumerate(markdown.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced:
            found += [(number, m.group(1)) for m in LINK.finditer(line)]
    return found


@pytest.mark.parametrize("markdown", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_and_anchors_resolve(markdown: Path) -> None:
    problems: list[str] = []
    for number, target in links(markdown):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        path, _, anchor = target.partition("#")
        file = (markdown.parent / path).resolve() if path else markdown
        where = f"{markdown.relative_to(ROOT)}:{number}: {target}"
        if not file.exists():
            problems.append(f"{where}: no such file")
        elif ignored(file):
            problems.append(f"{where}: an ignored file, not in the repository")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            problems.append(f"{where}: no heading with that anchor")
    assert not problems, "\n".join(problems)


def test_the_readme_lists_every_doc() -> None:
    """A reader finds each page of docs/ from the README's Documentation list."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    listed = readme.split("## Documentation", 1)[1].split("\n## ", 1)[0]
    missing = [f"docs/{page.name}" for page in sorted((ROOT / "docs").glob("*.md"))
               if f"(docs/{page.name})" not in listed]  # fmt: skip
    assert not missing, f"README.md's Documentation list lacks {missing}"
