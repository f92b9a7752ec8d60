"""A control-plane load that names a model not served yet, without a reference (what
tritonclient's ``load_model(name)`` sends: it has no way to pass one), loads ``name`` from the
store as ``inferd serve name`` would (its ``latest`` tag). It answered 404 "model not found"
though the store held the model, so a Triton client could never load a model the server was not
started with."""

from __future__ import annotations

import asyncio

import pytest

from inferd.errors import InvalidArgument, ModelNotFound
from inferd.serving.dataplane import ServingDataPlane

from .conftest import Harness, request


def _run(harness: Harness, scenario: object) -> None:
    async def main() -> None:
        plane, manager, _ = harness.plane()
        await manager.serve(["m:v1"])
        try:
            await scenario(plane)  # type: ignore[operator]
        finally:
            harness.probe.release()
            await plane.close()

    asyncio.run(main())


def test_a_model_not_served_yet_loads_its_latest_tag(harness: Harness) -> None:
    harness.push("m:v1")
    harness.push("n:latest")

    async def scenario(plane: ServingDataPlane) -> None:
        await plane.load("n")
        answer = await plane.infer(request(model="n"))
        assert (answer.model_name, answer.model_version) == ("n", "latest")
        assert plane.model_ready("n")

    _run(harness, scenario)


def test_a_name_the_store_does_not_hold_is_still_404_and_leaves_nothing(
    harness: Harness,
) -> None:
    harness.push("m:v1")
    harness.push("n:v1")  # a tag, but no 'latest' to load by name

    async def scenario(plane: ServingDataPlane) -> None:
        for name in ("absent", "n"):
            with pytest.raises(ModelNotFound, match=f"model '{name}' version 'latest'"):
                await plane.load(name)
        assert [entry.name for entry in plane.repository_index()] == ["m"]

    _run(harness, scenario)


def test_a_name_that_is_not_a_store_name_is_refused_before_any_fetch(harness: Harness) -> None:
    harness.push("m:v1")

    async def scenario(plane: ServingDataPlane) -> None:
        with pytest.raises(InvalidArgument, match="names model 'x/y'"):
            await plane.load("registry.example/x/y")
        assert [entry.name for entry in plane.repository_index()] == ["m"]

    _run(harness, scenario)
