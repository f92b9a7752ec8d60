"""``inferd up --demo-traffic``: a gentle stream of requests so the dashboard has something to
show.

A few requests a second, spread over the deployments, each carrying 1 to 4 random rows shaped by
the model card's signature of the deployment's main version
(:func:`~inferd.spec.edits.main_version`). Answers are read and dropped; failures are counted,
never raised (the demo must not disturb what it demonstrates)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import httpx
import numpy as np
import orjson

from inferd.card import Signature
from inferd.control.tasks import cancel_and_wait
from inferd.errors import InferdError
from inferd.runtimes.warmup import ExampleRequest, example_request
from inferd.spec.edits import main_version
from inferd.spec.model import Spec
from inferd.store import ModelStore

log = logging.getLogger(__name__)

DEFAULT_RATE_PER_S = 4.0
MAX_ROWS = 4
REQUEST_TIMEOUT_S = 2.0


def random_body(signature: Signature, rng: np.random.Generator) -> ExampleRequest | None:
    """An infer request of 1 to :data:`MAX_ROWS` random rows for ``signature``; None when it
    has a BYTES input (random text would say nothing about the model)."""
    if any(spec.datatype == "BYTES" for spec in signature.inputs):
        return None
    return example_request(signature, int(rng.integers(1, MAX_ROWS + 1)), rng)


class DemoTraffic:
    """Sends ``rate_per_s`` requests a second to the gateway, following the current spec."""

    def __init__(
        self,
        url: str,
        store: ModelStore,
        spec: Callable[[], Spec | None],
        *,
        rate_per_s: float = DEFAULT_RATE_PER_S,
        seed: int | None = None,
    ) -> None:
        #: The gateway, ``http://host:port``.
        self.url = url
        self.sent = 0
        self.failed = 0
        self._store = store
        self._spec = spec
        self.rate_per_s = rate_per_s
        self._rng = np.random.default_rng(seed)
        self._signatures: dict[str, Signature | None] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="demo-traffic")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _run(self) -> None:
        # trust_env off: a proxy from the environment must not stand between us and loopback.
        async with httpx.AsyncClient(
            base_url=self.url, timeout=REQUEST_TIMEOUT_S, trust_env=False
        ) as client:
            while True:
                await asyncio.sleep(1.0 / self.rate_per_s)
                target = await self._target()
                if target is None:
                    continue
                name, body = target
                try:
                    response = await client.post(
                        f"/v2/models/{name}/infer",
                        content=body,
                        headers={"content-type": "application/json"},
                    )
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.sent += 1
                self.failed += not ok

    async def _target(self) -> tuple[str, bytes] | None:
        spec = self._spec()
        if spec is None:
            return None
        deployment = spec.deployments[int(self._rng.integers(len(spec.deployments)))]
        signature = await self._signature(main_version(deployment).model)
        body = random_body(signature, self._rng) if signature is not None else None
        return (deployment.name, orjson.dumps(body)) if body is not None else None

    async def _signature(self, reference: str) -> Signature | None:
        if reference not in self._signatures:
            try:
                resolved = await asyncio.to_thread(self._store.resolve, reference)
                self._signatures[reference] = resolved.card.signature
            except InferdError as exc:
                log.warning("demo traffic skips %s: %s", reference, exc.message)
                self._signatures[reference] = None
        return self._signatures[reference]
