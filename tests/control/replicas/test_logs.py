"""Replica logs stay bounded: rotated by size, a fixed number kept, a fresh file per run."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from inferd.control.replicas.logs import RotatingLog, pump


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_rotates_by_size_and_keeps_the_retention_count(tmp_path: Path) -> None:
    log = RotatingLog(tmp_path / "r.log", max_bytes=100, backups=2)
    for i in range(9):
        log.write(bytes([65 + i]) * 60)  # every second write passes 100 bytes
    log.close()
    assert _names(tmp_path) == ["r.log", "r.log.1", "r.log.2"]
    assert (tmp_path / "r.log").read_bytes() == b"I" * 60
    assert (tmp_path / "r.log.1").read_bytes() == b"G" * 60 + b"H" * 60
    assert (tmp_path / "r.log.2").read_bytes() == b"E" * 60 + b"F" * 60
    total = sum(p.stat().st_size for p in tmp_path.iterdir())
    assert total <= 3 * 120


def test_a_new_run_starts_a_new_file(tmp_path: Path) -> None:
    first = RotatingLog(tmp_path / "r.log", max_bytes=1000, backups=3)
    first.write(b"run one\n")
    first.close()
    second = RotatingLog(tmp_path / "r.log", max_bytes=1000, backups=3)
    second.write(b"run two\n")
    second.close()
    assert (tmp_path / "r.log").read_bytes() == b"run two\n"
    assert (tmp_path / "r.log.1").read_bytes() == b"run one\n"


def test_a_process_output_is_pumped_through_rotation(tmp_path: Path) -> None:
    log = RotatingLog(tmp_path / "r.log", max_bytes=4096, backups=1)

    async def run() -> None:
        proc = await asyncio.create_subprocess_exec(
            "sh", "-c", "yes line | head -n 2000", stdout=asyncio.subprocess.PIPE
        )
        assert proc.stdout is not None
        await pump(proc.stdout, log)
        await proc.wait()

    asyncio.run(run())
    log.close()
    assert "r.log.1" in _names(tmp_path)
    assert set(_names(tmp_path)) <= {"r.log", "r.log.1"}
    assert (tmp_path / "r.log.1").read_bytes().startswith(b"line\n")


def test_a_file_is_rotated_at_the_end_of_a_line(tmp_path: Path) -> None:
    """Chunks from a pipe end anywhere; the one that passes the size is cut after its last
    newline, and the rest of its line starts the next file."""
    log = RotatingLog(tmp_path / "r.log", max_bytes=20, backups=1)
    for chunk in (b"first line\nsec", b"ond line\nthi", b"rd"):
        log.write(chunk)
    log.close()
    assert (tmp_path / "r.log.1").read_bytes() == b"first line\nsecond line\n"
    assert (tmp_path / "r.log").read_bytes() == b"third"
    assert log.written == len(b"first line\nsecond line\nthird")


def test_a_full_disk_drops_output_and_keeps_the_pipe_drained(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A write that fails (the disk is full: /dev/full answers every write with ENOSPC) drops
    that output, says so once, and the pump goes on reading: a replica blocked on a pipe
    nobody drains would stop answering and be killed as hung, again and again."""
    (tmp_path / "r.log").symlink_to("/dev/full")
    log = RotatingLog(tmp_path / "r.log", max_bytes=1 << 30, backups=1)

    async def run() -> int:
        proc = await asyncio.create_subprocess_exec(
            "sh", "-c", "yes line | head -n 100000", stdout=asyncio.subprocess.PIPE
        )  # fmt: skip
        assert proc.stdout is not None
        await pump(proc.stdout, log)  # raised OSError at the first chunk
        return await proc.wait()

    with caplog.at_level(logging.WARNING, logger="inferd.control.replicas.logs"):
        assert asyncio.run(run()) == 0
    log.close()
    assert log.dropped == 100000 * len(b"line\n")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "r.log" in warnings[0] and "No space left on device" in warnings[0]


def test_output_is_written_again_once_the_disk_has_room(tmp_path: Path) -> None:
    path = tmp_path / "r.log"
    path.symlink_to("/dev/full")
    log = RotatingLog(path, max_bytes=1 << 20, backups=1)
    log.write(b"lost\n")
    path.unlink()  # room again: the next write opens the file anew
    log.write(b"kept\n")
    log.close()
    assert path.read_bytes() == b"kept\n"
    assert log.dropped == len(b"lost\n")
