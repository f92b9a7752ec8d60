"""The payload log's JSONL file: rotated between lines by size, keeping ``max_files``."""

from __future__ import annotations

from pathlib import Path

from inferd.control.gateway.payloads.rotating import RotatingFile


def _line(n: int, size: int = 10) -> bytes:
    return f"{n:0{size - 1}d}\n".encode()


def test_lines_never_split_and_the_oldest_files_go(tmp_path: Path) -> None:
    file = RotatingFile(tmp_path / "p.jsonl", max_bytes=30, max_files=3)
    file.write([_line(n) for n in range(4)])  # 40 bytes: three lines, then a new file
    file.write([_line(n) for n in range(4, 10)])
    file.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["p.jsonl", "p.jsonl.1", "p.jsonl.2"]
    assert (tmp_path / "p.jsonl").read_bytes() == _line(9)
    assert (tmp_path / "p.jsonl.1").read_bytes() == b"".join(_line(n) for n in (6, 7, 8))
    assert (tmp_path / "p.jsonl.2").read_bytes() == b"".join(_line(n) for n in (3, 4, 5))


def test_an_existing_file_is_appended_to_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_bytes(_line(0) * 2)
    file = RotatingFile(path, max_bytes=30, max_files=2)
    file.write([_line(1), _line(2)])
    file.close()
    assert path.read_bytes() == _line(2)
    assert (tmp_path / "p.jsonl.1").read_bytes() == _line(0) * 2 + _line(1)


def test_one_file_starts_over_and_a_long_line_gets_a_file_of_its_own(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "p.jsonl"
    file = RotatingFile(path, max_bytes=25, max_files=1)
    file.write([_line(1), _line(2), _line(3, size=40)])
    file.write([_line(4)])
    file.close()
    assert sorted(p.name for p in path.parent.iterdir()) == ["p.jsonl"]
    assert path.read_bytes() == _line(4)
