"""``inferd serve`` argument checks that need no server."""

import gc
from pathlib import Path

from click.testing import CliRunner

from inferd.cli import main


def test_serve_without_a_reference_needs_allow_empty(inferd_home: Path) -> None:
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 2
    assert "--allow-empty" in result.output


def test_a_serve_that_fails_to_start_leaves_the_collector_on(inferd_home: Path) -> None:
    """`inferd serve` turns the garbage collector off while it starts; a failure before
    Server.start turns it back on (this process goes on, as a CliRunner's does)."""
    result = CliRunner().invoke(
        main, ["serve", "--keys-file", str(inferd_home / "no-such-keys"), "--no-grpc", "m:v1"]
    )
    assert result.exit_code == 2, result.output
    assert "no-such-keys" in result.output
    assert gc.isenabled()
