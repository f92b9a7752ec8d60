"""The report's replica-hour line is the arithmetic of a version's latest replica. In the
interval where `inferd apply`'s smaller requests retired the old replicas, the exited ones came
last, so `inferd cost report` right after the documented right-sizing showed the old price."""

from __future__ import annotations

import asyncio
import dataclasses

from inferd.control.cost.documents import cost_report
from inferd.control.cost.proc import ProcessUse
from inferd.cost.capacity import GIB
from inferd.spec.loading import parse_spec

from .conftest import SPEC, Fake, replica


def test_the_replica_hour_is_the_new_replicas_once_the_old_ones_exit(fake: Fake) -> None:
    old = replica("fraud-v1-1", "v1", 11, 50)
    fake.replicas = [old]
    fake.uses = {11: ProcessUse(1.0, GIB // 4, GIB // 4), 12: ProcessUse(0.1, GIB // 8, GIB // 8)}
    fake.times = iter([100.0, 105.0, 110.0, 110.0])
    sampler = fake.sampler()
    asyncio.run(sampler.tick())  # at 100
    smaller = SPEC.replace("{cpu: 500m, memory: 1Gi}", "{cpu: 250m, memory: 512Mi}")
    fake.spec = parse_spec(smaller, "inferd.yaml")
    fake.replicas = [old, replica("fraud-v1-2", "v1", 12, 101)]
    asyncio.run(sampler.tick())  # at 105: both run
    # The old one exited at 107; the supervisor keeps it, stopped, as it keeps the retired.
    gone = dataclasses.replace(old, state="stopped", pid=None, started_at=None, exited_at=107.0)
    fake.replicas = [fake.replicas[1], gone]
    del fake.uses[11]
    asyncio.run(sampler.tick())  # at 110
    (v1,) = [
        v
        for v in cost_report(sampler, 5)["versions"]
        if (v["deployment"], v["version"]) == ("fraud", "v1")
    ]
    # 0.25 core at 3.6 EUR/core-hour and 0.5 GiB at 0.36 EUR/GiB-hour.
    assert v1["replica_hour_formula"] == "0.25 core * 3.6 + 0.5 GiB * 0.36 = 1.08"
