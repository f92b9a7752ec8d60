"""Metrics: bounded cardinality, promtool-clean exposition, every series documented."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import subprocess
from pathlib import Path

from inferd.errors import InvalidTensor, ModelNotFound
from inferd.observe.metrics import ServerMetrics
from serving.conftest import Harness, harness, request, rows

__all__ = ["harness"]  # the fixture, shared with the serving tests

DOCS = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


def _series(text: bytes) -> set[str]:
    return {
        line.rsplit(" ", 1)[0] for line in text.decode().splitlines() if not line.startswith("#")
    }


def _families(text: bytes) -> set[str]:
    return {line.split()[2] for line in text.decode().splitlines() if line.startswith("# TYPE ")}


def _serve_with_traffic(harness: Harness) -> tuple[bytes, bytes]:
    """Serve one model, run good and bad requests, then 1,000 random model names."""

    async def main() -> tuple[bytes, bytes]:
        harness.push("m:v1")
        plane, manager, metrics = harness.plane()
        await manager.serve(["m:v1"])
        await plane.infer(request(x=rows(2)))
        with contextlib.suppress(InvalidTensor):
            await plane.infer(request(outputs=["nope"]))
        before = metrics.render()
        for _ in range(1000):
            with contextlib.suppress(ModelNotFound):
                await plane.infer(request(f"m-{secrets.token_hex(8)}"))
        after = metrics.render()
        await plane.close()
        return before, after

    return asyncio.run(main())


def test_random_model_names_do_not_grow_the_series(harness: Harness) -> None:
    before, after = _serve_with_traffic(harness)
    assert _series(after) == _series(before)
    assert len(after) - len(before) < 100  # only counter values changed
    line = 'inferd_requests_total{model="unknown",outcome="client_error",version=""} 1000.0'
    assert line in after.decode()


def test_promtool_accepts_the_exposition(promtool: str, harness: Harness, tmp_path: Path) -> None:
    _, text = _serve_with_traffic(harness)
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, check=False
    )
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
    assert checked.stdout.decode().strip() == "" and checked.stderr.decode().strip() == ""


def test_every_family_is_documented() -> None:
    metrics = ServerMetrics()
    metrics.bind("m", "v1")
    metrics.load_finished("m", "v1", 0.5, ok=False)
    documented = DOCS.read_text(encoding="utf-8")
    for family in _families(metrics.render()):
        assert f"`{family}`" in documented, f"{family} is not in docs/metrics.md"
