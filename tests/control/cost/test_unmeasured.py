"""A replica whose process the sampler cannot read (no ``/proc``: macOS, Windows) still holds
its requests: docs/cost.md promises held capacity and money there, with nothing measured as
used. The sampler left such replicas out, so off Linux every report priced nothing."""

from __future__ import annotations

import asyncio

from inferd.cost.accounting import account
from inferd.cost.capacity import Capacity
from inferd.cost.prices import Node, PriceBook

from .conftest import Fake, replica


def test_a_replica_that_cannot_be_read_holds_its_requests_and_is_priced(fake: Fake) -> None:
    fake.replicas = [replica("fraud-v1-1", "v1", 11, 50)]
    fake.uses = {}  # no /proc: every reading is None
    sampler = fake.sampler()
    asyncio.run(sampler.tick())  # at 100
    intervals = asyncio.run(sampler.tick())  # at 105
    (v1,) = [i for i in intervals if i.key == ("fraud", "v1")]
    (held,) = v1.replicas
    assert (held.seconds, held.held, held.used) == (5.0, Capacity(0.5, 1.0), Capacity())
    # 5 s of 0.5 core at 3.6 EUR/core-hour and 1 GiB at 0.36 EUR/GiB-hour, worked out here.
    expected = 5 / 3600 * (0.5 * 3.6 + 1.0 * 0.36)
    assert fake.spec.cost is not None
    (money,) = [a.money for a in account([v1], PriceBook.of(fake.spec.cost, Node(2, 8)))]
    assert money is not None
    assert abs(money.held - expected) < 1e-12
    assert money.used == 0.0
