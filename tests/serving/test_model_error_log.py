"""What the server's log says when a sandboxed (trusted python) model's code raises: the
worker prints the model's own traceback, and the batcher adds one line naming the version, the
batch and the exception type, not a second traceback of inferd's internals (that one is at
debug level, for whoever debugs the server)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path

import pytest

from inferd.errors import InternalError

from .conftest import Harness, SandboxedCodeRuntime, request

RAISING = """\
class Model:
    def predict(self, inputs):
        x = inputs["x"]
        if x.any():  # not the warm-up's zeros
            raise ValueError("the model does not take this value")
        return {"y": x, "z": x}
"""


def _serve_raising(harness: Harness, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    harness.push("m:v1")
    raising = SandboxedCodeRuntime(tmp_path / "raising", RAISING)

    async def main() -> None:
        plane, manager, _ = harness.plane()
        manager._loaders = dataclasses.replace(manager._loaders, runtime=lambda _: raising)
        await manager.serve(["m:v1"])
        try:
            batcher_log = caplog.at_level(logging.DEBUG, logger="inferd.serving.batcher")
            with batcher_log, pytest.raises(InternalError) as failure:
                await plane.infer(request())
            assert "see the server log" in failure.value.message
        finally:
            await plane.close()

    asyncio.run(main())
    assert raising.loaded and raising.loaded[0].pid is None


def test_a_sandboxed_model_that_raises_logs_one_line_not_a_traceback(
    harness: Harness, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _serve_raising(harness, tmp_path, caplog)
    batcher = [r for r in caplog.records if r.name == "inferd.serving.batcher"]
    errors = [r for r in batcher if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in batcher]
    (line,) = errors
    assert line.exc_info is None  # no traceback of inferd's own frames at error level
    message = line.getMessage()
    assert "m:v1" in message and "ValueError" in message, message
    assert "\n" not in message
    debug = [r for r in batcher if r.levelno == logging.DEBUG]
    assert any(r.exc_info is not None for r in debug)  # the traceback, for debugging
