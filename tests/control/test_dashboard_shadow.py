"""The dashboard's shadow comparison in a real headless Chromium: each outcome of a mirrored copy
under its own name, as the gateway's Prometheus series count it.

A real gateway mirrors fraud:v1's traffic to an identity model (``echo``) whose input is named
otherwise: the shadow refuses (400) every request, both the ones the primary answers (the
candidate's refusals: ``refused``) and the ones the primary refuses too (the client's:
``client_error``).
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from inferd.config import StoreSettings
from inferd.packaging import push
from inferd.store import ModelStore

from .gateway.conftest import (
    FRAUD_BODY,
    QUICKSTART,
    ReplicaProcess,
    deployment,
    identity_model,
    run,
    sample,
    start_replica,
    started_gateway,
    topology,
    version,
)
from .test_dashboard import browse, chromium  # noqa: F401 (chromium: a fixture)

BAD_BODY = {"inputs": [{"name": "nope", "shape": [1, 1], "datatype": "FP32", "data": [0.0]}]}


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ReplicaProcess, ...]]:
    """fraud:v1 (input ``input``) and echo:v1 (input ``x``), one replica each."""
    root = tmp_path_factory.mktemp("dashboard-shadow")
    store = ModelStore.from_settings(StoreSettings(home=root / "home"))
    push(store, QUICKSTART / "fraud-v1", "fraud:v1")
    push(store, identity_model(root / "echo"), "echo:v1")
    started: list[ReplicaProcess] = []
    try:
        for reference in ("fraud:v1", "echo:v1"):
            started.append(start_replica(root / "home", reference))
        yield tuple(started)
    finally:
        for server in started:
            server.stop()


def counts(exposition: str) -> dict[str, float]:
    """The fraud v1 → v2 copies by outcome, as the gateway's Prometheus series count them."""
    labels = {"deployment": "fraud", "primary": "v1", "shadow": "v2"}
    return {
        outcome: sample(exposition, "inferd_gateway_shadow_requests_total", outcome=outcome,
                        **labels)
        for outcome in ("compared", "uncompared", "client_error", "refused", "failed")
    }  # fmt: skip


def shadow_row(dom: str) -> dict[str, str]:
    """The shadow comparison table's one row, by column heading."""
    match = re.search(r"<h3>Shadow comparison</h3>\s*<table>(.*?)</table>", dom, re.S)
    assert match, "no shadow comparison table"

    def texts(tag: str) -> list[str]:
        cells = re.findall(rf"<{tag}[^>]*>(.*?)</{tag}>", match.group(1), re.S)
        return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", c)).split()) for c in cells]

    return dict(zip(texts("th"), texts("td"), strict=True))


def test_each_shadow_outcome_shows_as_itself(
    chromium: str,  # noqa: F811 (the fixture imported above)
    pair: tuple[ReplicaProcess, ...],
    tmp_path: Path,
) -> None:
    """A copy refused where the primary answered showed as "failed", one refused where the
    primary refused too as "uncompared"; the Prometheus series had them right."""
    primary, echo = pair
    topo = topology(
        deployment("fraud", version("v1", 100, primary), version("v2", 0, echo, model="echo"),
                   shadow="v2")
    )  # fmt: skip

    async def scenario() -> tuple[str, str]:
        gateway = await started_gateway(topo)
        base = f"http://127.0.0.1:{gateway.port}"
        try:
            async with httpx.AsyncClient() as client:
                url = f"{base}/v2/models/fraud/infer"
                for body, status in ((FRAUD_BODY, 200),) * 3 + ((BAD_BODY, 400),) * 2:
                    assert (await client.post(url, json=body)).status_code == status
                async with asyncio.timeout(10):  # the copies end on their own
                    while sum(counts(exposition := (await client.get(f"{base}/metrics")).text)
                              .values()) < 5:  # fmt: skip
                        await asyncio.sleep(0.02)
            return await browse(chromium, base, tmp_path / "profile", "--dump-dom"), exposition
        finally:
            await gateway.stop(5)

    dom, exposition = run(scenario)
    assert counts(exposition) == {
        "compared": 0, "uncompared": 0, "client_error": 2, "refused": 3, "failed": 0,
    }  # fmt: skip
    row = shadow_row(dom)
    assert row["primary → shadow"] == "v1 → v2"
    outcomes = ("compared", "uncompared", "client errors", "refused", "failed")
    shown = {h: row.get(h) for h in outcomes}
    assert shown == {"compared": "0", "uncompared": "0", "client errors": "2", "refused": "3",
                     "failed": "0"}  # fmt: skip
