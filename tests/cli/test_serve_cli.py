"""``inferd serve`` argument checks that need no server."""

from pathlib import Path

from click.testing import CliRunner

from inferd.cli import main


def test_serve_without_a_reference_needs_allow_empty(inferd_home: Path) -> None:
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 2
    assert "--allow-empty" in result.output
