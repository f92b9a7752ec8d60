"""``inferd gc --max-size`` takes the sizes operators write: Kubernetes quantities (``10Gi``,
as in a PVC or an ``emptyDir`` ``sizeLimit``) as well as ``10G`` and ``10GiB``; a value that is
no size (``nan``, ``inf``) is one ``error:`` line and exit 2, not a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from inferd.cli import main
from inferd.cli._sizes import parse_size


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("10Gi", 10 * 1024**3),
        ("512Mi", 512 * 1024**2),
        ("10G", 10 * 1024**3),
        ("10GiB", 10 * 1024**3),
        ("1.5Ti", int(1.5 * 1024**4)),
        ("64Ki", 64 * 1024),
        ("2048", 2048),
    ],
)
def test_sizes_with_and_without_the_binary_suffix(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "infG", "10I", "Gi"])
def test_what_is_no_size_is_refused_in_one_line(inferd_home: Path, text: str) -> None:
    result = CliRunner().invoke(main, ["gc", "--max-size", text])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stderr.startswith(f"error: '{text}' is not a size such as 10G"), result.stderr


def test_gc_takes_a_kubernetes_quantity(inferd_home: Path) -> None:
    result = CliRunner().invoke(main, ["gc", "--max-size", "10Gi"])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
