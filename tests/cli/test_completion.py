"""Shell completion as docs/cli.md gives it: the script for each shell, and commands completed
from the lazily loaded command modules."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from inferd.cli import main

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_documented_completion_script_is_printed(shell: str) -> None:
    assert f"_INFERD_COMPLETE={shell}_source inferd" in DOC.read_text(encoding="utf-8")
    result = CliRunner().invoke(
        main, [], prog_name="inferd", env={"_INFERD_COMPLETE": f"{shell}_source"}
    )
    assert result.exit_code == 0 and "_INFERD_COMPLETE" in result.stdout


def test_subcommands_complete() -> None:
    env = {
        "_INFERD_COMPLETE": "bash_complete",
        "COMP_WORDS": "inferd rollout st",
        "COMP_CWORD": "2",
    }
    result = CliRunner().invoke(main, [], prog_name="inferd", env=env)
    assert result.stdout.split() == ["plain,start", "plain,status"]
