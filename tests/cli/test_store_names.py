"""``inferd ls NAME`` and ``inferd history NAME`` given what docker users type: ``name:tag``,
``name@digest``, ``host/name``. The error says what NAME takes, not that the name is malformed."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from inferd.cli import main

DIGEST = "sha256:" + "ab" * 32


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("INFERD_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.mark.parametrize("command", ["ls", "history"])
@pytest.mark.parametrize(
    ("given", "name"),
    [("fraud:v1", "fraud"), (f"risk/fraud@{DIGEST}", "risk/fraud"), (f"f:v1@{DIGEST}", "f")],
)
def test_a_tag_or_digest_after_the_name_is_named_as_the_problem(
    command: str, given: str, name: str
) -> None:
    result = CliRunner().invoke(main, [command, given])
    assert result.exit_code == 2, result.output
    assert f"a model name without a tag or digest, here {name!r}" in result.output
    assert "lower-case" not in result.output


def test_history_of_a_registry_name_says_registries_keep_none() -> None:
    result = CliRunner().invoke(main, ["history", "localhost:5000/risk/fraud"])
    assert result.exit_code == 2, result.output
    assert "a registry keeps no history of tag moves" in result.output
    assert "lower-case" not in result.output


def test_a_malformed_name_still_gets_the_grammar() -> None:
    result = CliRunner().invoke(main, ["ls", "Fraud"])
    assert result.exit_code == 2, result.output
    assert "a name is lower-case letters and digits" in result.output


@pytest.mark.parametrize(
    "args",
    [["rm", f"fraud@{DIGEST}"], ["tag", "fraud:v1", f"fraud@{DIGEST}"]],
)
def test_a_digest_where_a_tag_is_written_or_removed_says_so(args: list[str]) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert (
        "this takes name:tag, not a digest: push and tag write a tag, rm removes one"
        in result.output
    )
    assert "destination" not in result.output  # rm has none


@pytest.mark.parametrize(
    ("given", "name"),
    [
        ("localhost:5000/risk/fraud:v1", "localhost:5000/risk/fraud"),
        (f"registry.example.com/fraud@{DIGEST}", "registry.example.com/fraud"),
    ],
)
def test_a_tag_after_a_registry_repository_names_the_repository_with_its_registry(
    given: str, name: str
) -> None:
    # Not 'risk/fraud', which `inferd ls` would take as the local model of that name.
    result = CliRunner().invoke(main, ["ls", given])
    assert result.exit_code == 2, result.output
    assert f"invalid reference {given!r}: " in result.output
    assert f"a model name without a tag or digest, here {name!r}" in result.output


def test_a_registry_alone_says_to_name_a_repository_in_it() -> None:
    result = CliRunner().invoke(main, ["ls", "localhost:5000"])
    assert result.exit_code == 2, result.output
    assert "to list a registry's repository, name it: 'localhost:5000/NAME'" in result.output
