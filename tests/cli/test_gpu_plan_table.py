"""``inferd gpu plan``'s table through a pipe: each GPU one whole line, its product and every
replica on it (rich cut the table to 80 columns: 'NVIDIA-A100-SX…', replicas wrapped onto more
lines)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from inferd.cli import main

DATA = Path(__file__).resolve().parents[1] / "deploy" / "data"


def test_each_gpu_is_one_whole_line() -> None:
    result = CliRunner().invoke(
        main,
        ["gpu", "plan", str(DATA / "gpu.yaml"), "--nodes", str(DATA / "nodes.yaml"),
         "--overlay", str(DATA / "gpu.k8s.yaml"), "--scale", "max"],
    )  # fmt: skip
    assert result.exit_code == 1, result.output  # ranker/v2 does not fit at its maximum
    assert "…" not in result.stdout
    rows = [line.split() for line in result.stdout.splitlines()[1:] if "-node " in line]
    assert [row[:2] for row in rows] == [
        ["a100-node", "0"], ["a100-node", "1"], *[["h100-node", str(i)] for i in range(4)],
        ["t4-node", "0"], ["t4-node", "1"],
    ]  # fmt: skip
    assert rows[0][2].startswith("NVIDIA-A100-SXM4")
    assert rows[-1][-4:] == ["ranker/v1#4,", "ranker/v1#5,", "ranker/v1#6,", "ranker/v1#7"]
