"""A registry's rate limiter: ``429 Too Many Requests`` with ``Retry-After`` is waited out."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import httpx
import pytest

from inferd.errors import Unavailable
from inferd.packaging import push
from inferd.store import ModelStore
from inferd.store.remote import RegistrySettings
from inferd.store.remote.transport import retry_after

from .conftest import Stores
from .proxy import Faults, fault_proxy
from .registry import Registry


def test_a_pull_waits_as_long_as_retry_after_asks(
    open_registry: Registry, settings: RegistrySettings, store: ModelStore, repo: str,
    model: Path, tmp_path: Path, remote_store: Stores,
) -> None:  # fmt: skip
    push(store, model, f"{repo}:v1")
    name = repo.split("/", 1)[1]
    # Two tries 10 ms apart would both land in the limiter's one-second window; the second
    # gets through only if the client waits as long as the registry said.
    faults = Faults(throttle_s=1)
    patient = dataclasses.replace(settings, attempts=2, backoff_s=0.01)
    with fault_proxy(open_registry.host, faults) as proxy:
        pulled = remote_store(tmp_path / "home", patient.with_insecure([proxy]))
        assert pulled.resolve(f"{proxy}/{name}:v1").card.runtime == "sklearn"
    assert [m for m, path, _ in faults.seen if "/manifests/" in path].count("GET") >= 2


def test_a_wait_longer_than_a_minute_fails_at_once_saying_so(
    open_registry: Registry, settings: RegistrySettings, store: ModelStore, repo: str,
    model: Path, tmp_path: Path, remote_store: Stores,
) -> None:  # fmt: skip
    push(store, model, f"{repo}:v1")
    name = repo.split("/", 1)[1]
    faults = Faults(throttle_s=3600)
    with fault_proxy(open_registry.host, faults) as proxy:
        pulled = remote_store(tmp_path / "home", settings.with_insecure([proxy]))
        with pytest.raises(Unavailable) as info:
            pulled.resolve(f"{proxy}/{name}:v1")
    assert "HTTP 429 TOOMANYREQUESTS" in info.value.message
    assert info.value.message.endswith("it asks to be retried in 3600 s")
    assert len([path for _, path, _ in faults.seen if "/manifests/" in path]) == 1


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("7", 7.0), ("", None), ("soon", None), ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0)],
)
def test_retry_after_takes_seconds_or_an_http_date(value: str, seconds: float | None) -> None:
    response = httpx.Response(429, headers={"Retry-After": value} if value else {})
    assert retry_after(response) == seconds
