"""Progress bars: push, a local pull, and tag's uploads and downloads report bytes to a bar on
stderr when a person watches (issue 12 item 15; a tag upload is in tests/store/remote)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from inferd.cli import _progress, main
from inferd.packaging import push
from inferd.store import ModelStore


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    """A model of two files: the quickstart's ONNX model and a 3 MB vocabulary."""
    model = tmp_path / "model"
    model.mkdir()
    source = Path(__file__).resolve().parents[2] / "examples" / "quickstart" / "fraud-v1"
    (model / "model.onnx").write_bytes((source / "model.onnx").read_bytes())
    (model / "vocab.txt").write_text("".join(f"token{i}\n" for i in range(300_000)))
    return model


def test_a_local_pull_reports_the_bytes_it_writes(
    inferd_home: Path, weights: Path, tmp_path: Path, bars: list[tuple[str, int, int]]
) -> None:
    size = push(ModelStore(inferd_home), weights, "fraud:v1").size
    result = CliRunner().invoke(main, ["pull", "fraud:v1", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    pulling = [(done, total) for label, done, total in bars if label == "pulling"]
    assert pulling[-1] == (size, size)
    assert [done for done, _ in pulling] == sorted(done for done, _ in pulling)
    assert not [call for call in bars if call[0] == "downloading"]  # nothing came over a network

    bars.clear()
    assert CliRunner().invoke(main, ["pull", "fraud:v1", str(tmp_path / "q"), "-q"]).exit_code == 0
    assert bars == []


def test_the_bar_draws_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real bar on a terminal console: the label, then nothing left (transient)."""
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=80)
    monkeypatch.setattr(_progress, "stderr", lambda: console)
    with _progress.progress_bar(True, "pulling", threshold=10) as update:
        assert update is not None
        update(5, 20)
        update(20, 20)
    assert "pulling" in screen.getvalue()
    drawn = len(screen.getvalue())
    with _progress.progress_bar(True, "small", threshold=100) as update:
        assert update is not None
        update(20, 20)  # under the threshold: no bar
    assert "small" not in screen.getvalue()[drawn:]
