"""``inferd gc --max-size``: when what is left (locally tagged versions) is still over the size,
gc says so on stderr, why, and what would free more, instead of a bare "N in use"."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from inferd.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(autouse=True)
def pushed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFERD_HOME", str(tmp_path / "home"))
    model = tmp_path / "model"
    shutil.copytree(EXAMPLES / "sklearn", model)
    assert CliRunner().invoke(main, ["push", str(model), "fraud:v1"]).exit_code == 0


def test_a_store_still_over_the_size_is_reported() -> None:
    result = CliRunner().invoke(main, ["gc", "--max-size", "1k"])
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("warning: the store is still over 1.0 kB (")
    assert result.stderr.endswith(
        " in use): locally tagged versions are never evicted, nor blobs younger than 10 minutes "
        "(a push may be using them), nor files being written (a pull or push in progress), nor "
        "versions a server is loading; `inferd rm NAME:TAG` what is no longer needed, then gc "
        "again\n"
    )


def test_a_store_within_the_size_gets_no_warning() -> None:
    result = CliRunner().invoke(main, ["gc", "--max-size", "1G"])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
