"""Every ``inferd`` command line the docs show names a command and options that exist.

The command lines are those of the shell blocks (``sh``, ``bash``, ``console`` after ``$``) and
the inline code spans that start with ``inferd``; each is resolved through the real command
group, down to its subcommand, and each ``--option`` (or ``-o``) must be one that command
takes, so a reader who copies it gets no "No such option". Arguments are not run here: the
README tour and the examples' tests run theirs.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from inferd.cli import main

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([*(ROOT / "docs").glob("*.md"), ROOT / "README.md",
               *(ROOT / "examples").glob("**/README.md")])  # fmt: skip
SHELL = re.compile(r"^```(?:sh|bash|console|shell)[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
INLINE = re.compile(r"`(inferd [^`]+)`")


def command_lines(text: str) -> list[str]:
    """The ``inferd …`` lines of ``text``'s shell blocks and inline code, comments dropped."""
    lines: list[str] = []
    for block in SHELL.finditer(text):
        body = block.group(1).replace("\\\n", " ")
        for raw in body.splitlines():
            line = raw.strip().removeprefix("$ ")
            for piece in re.split(r"&&|\||;|\$\(", line):
                part = re.sub(r"^\w+=\S+\s+", "", piece.strip())  # VAR=value inferd …
                if part.startswith("inferd "):
                    lines.append(re.sub(r"\s+#.*$", "", part).strip())
    lines += [m.group(1) for m in INLINE.finditer(text.replace("\n", " "))]
    return lines


def resolve(words: list[str]) -> tuple[str, click.Command, list[str]] | str | None:
    """(its name, the command ``words`` after ``inferd`` names, the words left), what is
    wrong, or None for alternatives written in one word (`inferd keys create|list|revoke`)."""
    name, command, rest = "inferd", main, list(words)
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        if "|" in rest[0]:
            return None
        found = command.get_command(click.Context(main), rest[0])
        if found is None:
            return f"no command {rest[0]!r} in `{name}`"
        name, command, rest = f"{name} {rest[0]}", found, rest[1:]
    return name, command, rest


def options(command: click.Command) -> set[str]:
    names = {"--help", "-h"}
    for param in command.params:
        if isinstance(param, click.Option):
            names.update(param.opts)
            names.update(param.secondary_opts)
    return names


def problems(line: str) -> list[str]:
    try:
        words = [w.strip("[]") for w in shlex.split(line.replace("…", ""))[1:]]
    except ValueError:
        return []  # an inline fragment with an unmatched quote: nothing to check
    resolved = resolve(words)
    if resolved is None or isinstance(resolved, str):
        return [resolved] if resolved else []
    name, command, rest = resolved
    known = options(command)
    flags = [w.split("=", 1)[0] for w in rest if re.fullmatch(r"--?[a-z][\w-]*(=.*)?", w)]
    return [f"{flag}: not an option of `{name}`" for flag in flags if flag not in known]


LINES = [(f"{doc.relative_to(ROOT)}", line) for doc in DOCS
         for line in command_lines(doc.read_text(encoding="utf-8"))]  # fmt: skip


def test_the_docs_command_lines_are_found() -> None:
    assert len(LINES) > 100
    assert ("docs/kubernetes.md", "inferd k8s gpu-operator inferd.yaml --overlay inferd.k8s.yaml "
            "--nodes nodes.yaml -o gpu-operator") in LINES  # fmt: skip


@pytest.mark.parametrize("doc", sorted({doc for doc, _ in LINES}))
def test_the_command_lines_in_a_doc_name_real_commands_and_options(doc: str) -> None:
    found = [f"{line}: {p}" for where, line in LINES if where == doc for p in problems(line)]
    assert not found, "\n".join(found)
