"""``inferd up --demo-traffic`` for models with string (BYTES) inputs: rows of the strings the
model tells it takes, or nothing, said once in the log."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from inferd.card import Signature, TensorSpec
from inferd.config import StoreSettings
from inferd.control.demo_traffic import DemoTraffic, load_known_values, random_body
from inferd.runtimes.warmup import KnownValues
from inferd.spec.loading import parse_spec
from inferd.spec.model import Spec
from inferd.store import ModelStore
from serving.test_strict_encoder_served import _push_strict

from .conftest import spec_text

COLORS = Signature(inputs=(TensorSpec(name="item", datatype="BYTES", shape=(-1, 2)),))


def test_random_body_fills_string_columns_with_the_known_strings() -> None:
    rng = np.random.default_rng(0)
    rows = set()
    for _ in range(20):
        body = random_body(COLORS, rng, {"item": ("blue", "large")})
        assert body is not None
        (item,) = body["inputs"]
        rows.add(item["shape"][0])
        assert item["data"] == ["blue", "large"] * item["shape"][0]
    assert rows == {1, 2, 3, 4}
    assert random_body(COLORS, rng, {"item": ("blue", None)}) is None
    assert random_body(COLORS, rng) is None


async def _gateway(bodies: list[dict[str, Any]], status: bytes = b"200 OK") -> asyncio.Server:
    """A stand-in gateway: records each request's JSON body, answers ``status``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                bodies.append(orjson.loads(await reader.readexactly(length)))
                writer.write(b"HTTP/1.1 " + status + b"\r\ncontent-length: 2\r\n\r\n{}")
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def _demo(
    store: ModelStore,
    spec: Spec,
    known: Callable[[str], KnownValues] | None = None,
    want: int = 0,
    status: bytes = b"200 OK",
) -> tuple[list[dict[str, Any]], int]:
    """Run the demo at 50 requests/s for a second, or until it has sent ``want`` (a busy
    machine takes a while to load the model it asks for its strings): the bodies it sent, and
    its count."""

    async def scenario() -> tuple[list[dict[str, Any]], int]:
        bodies: list[dict[str, Any]] = []
        server = await _gateway(bodies, status)
        port = server.sockets[0].getsockname()[1]
        demo = DemoTraffic(
            f"http://127.0.0.1:{port}", store, lambda: spec, rate_per_s=50, seed=1, known=known
        )
        demo.start()
        deadline = time.monotonic() + 30
        await asyncio.sleep(1.0)
        while demo.sent < want and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await demo.stop()
        server.close()
        return bodies, demo.sent

    return asyncio.run(scenario())


def _colors_spec() -> Spec:
    return parse_spec(spec_text({"v1": ("colors:v1", 1, 100)}).replace("fraud", "colors"))


def test_a_strict_string_pipeline_gets_rows_of_its_categories(tmp_path: Path) -> None:
    """It got nothing: every BYTES model was skipped."""
    home = tmp_path / "home"
    _push_strict(home, tmp_path)
    store = ModelStore.from_settings(StoreSettings(home=home))
    assert load_known_values(store, "colors:v1") == {"item": ("blue", "large")}
    bodies, sent = _demo(store, _colors_spec(), want=10)
    assert len(bodies) >= sent >= 10  # a request cut off by the stop arrived, uncounted
    for body in bodies:
        (item,) = body["inputs"]
        assert item["datatype"] == "BYTES"
        assert 1 <= item["shape"][0] <= 4
        assert item["data"] == ["blue", "large"] * item["shape"][0]


def test_a_model_that_does_not_tell_its_strings_gets_nothing_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    home = tmp_path / "home"
    _push_strict(home, tmp_path)
    store = ModelStore.from_settings(StoreSettings(home=home))

    def nothing(reference: str) -> KnownValues:
        return {}

    with caplog.at_level(logging.WARNING, logger="inferd.control.demo_traffic"):
        bodies, sent = _demo(store, _colors_spec(), nothing)
    assert (bodies, sent) == ([], 0)
    said = [r.getMessage() for r in caplog.records]
    assert said == [
        "demo traffic sends nothing to colors (colors:v1): the model does not tell which "
        "strings it takes in 'item', and random text would say nothing about it"
    ]


def test_a_gateway_that_starts_requiring_keys_stops_the_demo_saying_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Once a keys file appears (inferd keys create), the demo's keyless requests were refused
    with 401 for ever, and the dashboard showed 0 req/s with nothing said."""
    home = tmp_path / "home"
    _push_strict(home, tmp_path)
    store = ModelStore.from_settings(StoreSettings(home=home))
    with caplog.at_level(logging.WARNING, logger="inferd.control.demo_traffic"):
        _, sent = _demo(store, _colors_spec(), want=1, status=b"401 Unauthorized")
    assert sent == 1
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and "requires API keys" in said[0], said
