"""The spec the cost sampler prices replicas by: while an apply starts replicas, the one being
applied (they hold its resources already), not the previous one, nor nothing at all before the
first apply is ready (starting replicas were priced with default resources: 1 core, no GPU)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

import pytest

from inferd.control import reconciler as reconciling
from inferd.control.apply_plan import Change
from inferd.control.reconciler import Reconciler
from inferd.control.replicas.supervisor import Supervisor
from inferd.errors import Unavailable
from inferd.spec.loading import parse_spec
from inferd.spec.model import Spec
from inferd.store import ModelStore

from ..conftest import spec_text


class _Starting:
    """A supervisor whose new replicas become ready when the test says (or never)."""

    def __init__(self) -> None:
        self.ready = asyncio.Event()
        self.fail = False

    def spawn(self, launch: Any, count: int) -> list[object]:
        return [object()] * count

    async def wait_ready(self, replicas: object, timeout_s: float) -> None:
        await self.ready.wait()
        if self.fail:
            raise Unavailable("not ready")

    def route(self, routes: object) -> None:
        pass

    async def retire(self, replicas: object, drain_s: float) -> None:
        pass


def _spec(cpu: str) -> Spec:
    text = spec_text({"v1": ("fraud:v1", 1, 100)})
    return parse_spec(
        text.replace("    versions:", f"    resources: {{cpu: {cpu}}}\n    versions:")
    )


def test_starting_replicas_are_priced_by_the_spec_being_applied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    supervisor = _Starting()
    reconciler = Reconciler(cast(Supervisor, supervisor), ModelStore(tmp_path), tmp_path)

    async def no_launches(spec: Spec, changes: list[Change]) -> dict[object, object]:
        return {(c.deployment, c.version): object() for c in changes if c.start}

    monkeypatch.setattr(reconciler, "_launches", no_launches)
    monkeypatch.setattr(reconciling, "_routing", lambda *args, **kwargs: [])
    first, second = _spec("250m"), _spec("500m")

    async def scenario() -> list[Spec | None]:
        seen = [reconciler.priced]
        applying = asyncio.create_task(reconciler.apply(first))
        await asyncio.sleep(0.05)
        seen.append(reconciler.priced)  # its replicas start: priced by it already
        supervisor.ready.set()
        await applying
        seen.append(reconciler.priced)
        supervisor.ready.clear()
        supervisor.fail = True
        failing = asyncio.create_task(reconciler.apply(second))
        await asyncio.sleep(0.05)
        seen.append(reconciler.priced)
        supervisor.ready.set()
        with pytest.raises(Unavailable):
            await failing
        seen.append(reconciler.priced)  # nothing of it runs: back to the running spec
        return seen

    before, starting, applied, second_starting, after_failure = asyncio.run(scenario())
    assert before is None
    assert starting is first and applied is first
    assert second_starting is second
    assert after_failure is first
