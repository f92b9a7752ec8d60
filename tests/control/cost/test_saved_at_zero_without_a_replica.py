"""Scale-to-zero savings count only the time a deployment had no replica of its main version: a
replica replaced within one interval (an ``inferd apply`` of new requests, which starts the new
one before the old one drains, or a crash and restart) overlaps or nearly meets its successor,
and the seconds either ran are not time at zero."""

from __future__ import annotations

import asyncio
import dataclasses

from inferd.control.cost.proc import ProcessUse
from inferd.control.cost.sampler import CostSampler
from inferd.cost.accounting import VersionInterval
from inferd.cost.capacity import GIB

from .conftest import Fake, replica


def _churn(sampler: CostSampler) -> VersionInterval:
    return next(i for i in asyncio.run(sampler.tick()) if i.key == ("churn", "v1"))


def test_a_replica_replaced_within_an_interval_saves_nothing(fake: Fake) -> None:
    old = replica("churn-v1-1", "v1", 31, 50.0, "churn")
    fake.replicas = [old]
    fake.uses = {31: ProcessUse(1.0, GIB // 8, GIB // 8)}
    sampler = fake.sampler()
    asyncio.run(sampler.tick())  # at 100
    # The new replica started at 102, the old one drained and exited at 104: never at zero.
    new = replica("churn-v1-2", "v1", 32, 102.0, "churn")
    gone = dataclasses.replace(old, state="stopped", pid=None, started_at=None, exited_at=104.0)
    fake.replicas = [gone, new]
    fake.uses = {32: ProcessUse(0.5, GIB // 8, GIB // 8)}
    churn = _churn(sampler)
    assert sorted(s.seconds for s in churn.replicas) == [3.0, 4.0]
    assert (churn.zero_seconds, churn.zero) == (0.0, None)


def test_a_crash_and_restart_saves_only_the_gap(fake: Fake) -> None:
    a = replica("churn-v1-1", "v1", 31, 50.0, "churn")
    fake.replicas = [a]
    fake.uses = {31: ProcessUse(1.0, GIB // 8, GIB // 8)}
    sampler = fake.sampler()
    asyncio.run(sampler.tick())  # at 100
    # Crashed at 103, restarted at 103.5 as pid 41: half a second without a replica.
    fake.replicas = [dataclasses.replace(a, pid=41, started_at=103.5, exited_at=103.0)]
    fake.uses = {41: ProcessUse(0.2, GIB // 8, GIB // 8)}
    churn = _churn(sampler)
    assert sorted(s.seconds for s in churn.replicas) == [1.5, 3.0]
    assert churn.zero_seconds == 0.5
