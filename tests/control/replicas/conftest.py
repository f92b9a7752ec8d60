"""Helpers for the replica tests that run real replicas under a real supervisor."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from inferd.control.reconciler import Reconciler
from inferd.control.replicas.supervisor import Supervisor
from inferd.control.replicas.topology import Replica, Topology
from inferd.packaging import push
from inferd.spec.loading import parse_spec
from inferd.store import ModelStore

from ..conftest import fraud_store


def store_with_python_model(
    home: Path, directory: Path, reference: str, model_yaml: str, model_py: str
) -> ModelStore:
    """:func:`fraud_store` at ``home``, plus a python-runtime model (``inferd.model.yaml`` and
    ``model.py``) written to ``directory`` and pushed as ``reference``."""
    store = fraud_store(home)
    directory.mkdir()
    (directory / "inferd.model.yaml").write_text(model_yaml)
    (directory / "model.py").write_text(model_py)
    push(store, directory, reference)
    return store


@asynccontextmanager
async def one_replica(
    store: ModelStore, home: Path, spec: str, seen: list[Topology]
) -> AsyncIterator[Replica]:
    """``spec`` (one deployment of one replica) applied under a supervisor that publishes every
    topology to ``seen``; yields the replica, and shuts the reconciler down afterwards."""
    supervisor = Supervisor()
    supervisor.subscribe(seen.append)
    reconciler = Reconciler(supervisor, store, home / "up", ready_timeout_s=60)
    try:
        await reconciler.apply(parse_spec(spec))
        (replica,) = supervisor.replicas()
        yield replica
    finally:
        await reconciler.shutdown(5)
