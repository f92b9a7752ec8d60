"""Every test the user docs name as proof (``control/test_up.py::test_a_stop_under_load…``,
or a test file with its folder) exists, so a reader who runs it gets the test and not "not
found" after a rename.

A name is a backticked ``FILE.py::test_name`` (FILE relative to ``tests/``, or with it) or a
``::test_name`` that follows one in the same cell or paragraph, naming another test of the same
file; a parametrized test's ``[id]`` is left out of the lookup.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([*(ROOT / "docs").glob("*.md"), ROOT / "README.md",
               *(ROOT / "examples").glob("**/README.md")])  # fmt: skip
NAMED = re.compile(r"`(?P<file>[\w/.-]+\.py)?::(?P<test>\w+)(?:\[[^\]`]*\])?`")
#: A test file named with its folder (``control/test_up_oip.py``), with or without a test.
FILE = re.compile(r"`(?P<file>(?:[\w.-]+/)+test_\w+\.py)(?:::[^`]*)?`")


def find_test_file(written: str) -> Path | None:
    """The test file ``written`` names: under tests/, or from the repository root."""
    return next((p for p in (ROOT / "tests" / written, ROOT / written) if p.is_file()), None)


def named_tests(markdown: Path) -> list[tuple[int, str, str]]:
    """(line, file as written, test) for each test ``markdown`` names; test is "" where it
    names a test file alone."""
    found: list[tuple[int, str, str]] = []
    for number, line in enumerate(markdown.read_text(encoding="utf-8").splitlines(), 1):
        file = None  # a bare ``::name`` belongs to the last file of the same line
        for match in NAMED.finditer(line):
            file = match.group("file") or file
            if file is not None:
                found.append((number, file, match.group("test")))
        found += [(number, match.group("file"), "") for match in FILE.finditer(line)]
    return found


@pytest.mark.parametrize("markdown", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_tests_the_docs_name_exist(markdown: Path) -> None:
    problems: list[str] = []
    for number, written, test in named_tests(markdown):
        where = f"{markdown.relative_to(ROOT)}:{number}: {written}" + (f"::{test}" if test else "")
        file = find_test_file(written)
        if file is None:
            problems.append(f"{where}: no such test file")
        elif test and not re.search(
            rf"^\s*(?:async )?def {test}\(", file.read_text(), re.MULTILINE
        ):
            problems.append(f"{where}: no such test in {file.relative_to(ROOT)}")
    assert not problems, "\n".join(problems)


def test_the_docs_name_tests() -> None:
    """The lookup finds what it looks for: security.md's reliability table names tests."""
    assert len(named_tests(ROOT / "docs" / "security.md")) > 20
