"""A payload log whose writer was killed mid-line (``inferd up`` SIGKILLed, OOM) ends in a torn
line; the next writer's first line was joined to it, and every reader skipped the joined line."""

from __future__ import annotations

from pathlib import Path

import orjson

from inferd.control.gateway.payloads.rotating import RotatingFile


def test_the_first_line_after_a_torn_one_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "payloads.jsonl"
    path.write_bytes(b'{"id": 1}\n{"id": 2, "inp')  # killed mid-write
    log = RotatingFile(path, max_bytes=1 << 20, max_files=2)
    log.write([b'{"id": 3}\n'])
    log.close()
    lines = path.read_bytes().splitlines()
    assert lines[-1] == b'{"id": 3}'
    assert orjson.loads(lines[-1]) == {"id": 3}
    assert lines[1] == b'{"id": 2, "inp'  # the fragment stays a line of its own


def test_a_whole_last_line_gets_no_blank_line(tmp_path: Path) -> None:
    path = tmp_path / "payloads.jsonl"
    path.write_bytes(b'{"id": 1}\n')
    log = RotatingFile(path, max_bytes=1 << 20, max_files=2)
    log.write([b'{"id": 2}\n'])
    log.close()
    assert path.read_bytes() == b'{"id": 1}\n{"id": 2}\n'
