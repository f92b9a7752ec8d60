"""A replica process that exits between two samples is charged the capacity it held up to its
exit (the supervisor's replica says when), not only up to the sample before: an autoscaler
that scales to zero every few seconds, or a rollout's retired replicas, were undercharged by
up to the sampling interval each time."""

from __future__ import annotations

import asyncio
import dataclasses

from inferd.control.cost.proc import ProcessUse
from inferd.control.cost.sampler import CostSampler
from inferd.cost.accounting import VersionInterval
from inferd.cost.capacity import GIB, Capacity

from .conftest import Fake, replica


def test_a_retired_replica_is_charged_up_to_its_exit(fake: Fake) -> None:
    a = replica("fraud-v1-1", "v1", 11, 50)
    fake.replicas = [a]
    fake.uses = {11: ProcessUse(10.0, GIB // 4, GIB // 2)}
    sampler = fake.sampler()
    asyncio.run(sampler.tick())  # at 100: the baseline
    # Retired at 103 (between the ticks at 100 and 105): the supervisor keeps it, stopped.
    fake.replicas = [dataclasses.replace(a, state="stopped", pid=None, started_at=None,
                                         exited_at=103.0)]  # fmt: skip
    del fake.uses[11]
    (charged,) = _tick(sampler)[("fraud", "v1")].replicas
    assert charged.seconds == 3.0
    assert charged.held == Capacity(0.5, 1.0)
    assert charged.peak_gib == 0.5
    # Charged once: the next interval has nothing of it.
    assert _tick(sampler)[("fraud", "v1")].replicas == ()


def test_a_replica_restarted_between_samples_is_charged_for_both_processes(fake: Fake) -> None:
    a = replica("fraud-v1-1", "v1", 11, 50)
    fake.replicas = [a]
    fake.uses = {11: ProcessUse(10.0, GIB // 4, GIB // 2)}
    sampler = fake.sampler()
    asyncio.run(sampler.tick())  # at 100
    # Crashed at 101.5, restarted at 102 as pid 21.
    fake.replicas = [dataclasses.replace(a, pid=21, started_at=102.0, exited_at=101.5)]
    fake.uses = {21: ProcessUse(1.0, GIB // 4, GIB // 4)}
    slices = _tick(sampler)[("fraud", "v1")].replicas
    assert sorted(s.seconds for s in slices) == [1.5, 3.0]


def _tick(sampler: CostSampler) -> dict[tuple[str, str], VersionInterval]:
    return {i.key: i for i in asyncio.run(sampler.tick())}


def test_a_process_reaped_but_not_yet_let_go_of_is_charged_up_to_its_exit(fake: Fake) -> None:
    """The supervisor reads an exited process's last output before it drops its pid: a sample
    then saw it running, could not read it (gone), and charged nothing at all after."""
    a = replica("fraud-v1-1", "v1", 11, 50)
    fake.replicas = [a]
    fake.uses = {11: ProcessUse(10.0, GIB // 4, GIB // 2)}
    sampler = fake.sampler()
    asyncio.run(sampler.tick())  # at 100
    fake.replicas = [dataclasses.replace(a, state="ready", exited_at=104.0)]
    del fake.uses[11]
    (charged,) = _tick(sampler)[("fraud", "v1")].replicas
    assert charged.seconds == 4.0
