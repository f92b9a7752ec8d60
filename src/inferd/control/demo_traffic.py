"""``inferd up --demo-traffic``: a gentle stream of requests so the dashboard has something to
show.

A few requests a second, spread over the deployments, each carrying 1 to 4 random rows shaped by
the model card's signature of the deployment's main version
(:func:`~inferd.spec.edits.main_version`). Answers are read and dropped; failures are counted,
never raised (the demo must not disturb what it demonstrates).

A string (BYTES) input gets strings the model takes: the card does not store them, so for such a
model the demo loads it once, off the event loop, and asks it
(:func:`~inferd.runtimes.warmup.model_known_values`: a scikit-learn encoder's categories). A
model that does not tell a string for every column of every BYTES input gets no demo traffic
(random text would say nothing about it, and a strict encoder refuses it); the log says why,
once per model."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable

import httpx
import numpy as np
import orjson

from inferd.card import Signature
from inferd.control.tasks import cancel_and_wait
from inferd.errors import InferdError
from inferd.runtimes.base import LoadOptions
from inferd.runtimes.registry import get_runtime
from inferd.runtimes.warmup import (
    ExampleRequest,
    KnownValues,
    example_request,
    model_known_values,
    unknown_strings,
)
from inferd.spec.edits import main_version
from inferd.spec.model import Spec
from inferd.store import ModelStore

log = logging.getLogger(__name__)

DEFAULT_RATE_PER_S = 4.0
MAX_ROWS = 4
REQUEST_TIMEOUT_S = 2.0


def random_body(
    signature: Signature, rng: np.random.Generator, known: KnownValues | None = None
) -> ExampleRequest | None:
    """An infer request of 1 to :data:`MAX_ROWS` random rows for ``signature``, its BYTES
    columns holding the ``known`` strings; None when ``known`` lacks one for a column of a
    BYTES input (random text would say nothing about the model)."""
    if unknown_strings(signature, known or {}):
        return None
    return example_request(signature, int(rng.integers(1, MAX_ROWS + 1)), rng, known)


def takes_strings(signature: Signature) -> bool:
    return any(spec.datatype == "BYTES" for spec in signature.inputs)


def load_known_values(store: ModelStore, reference: str) -> KnownValues:
    """The strings the model at ``reference`` tells it takes (blocking: a load of the model,
    on CPU, without trusting code, then closed)."""
    materialized = store.materialize(reference)
    card = materialized.card
    options = LoadOptions(process_string_elements=None)
    model = get_runtime(card.runtime).load(materialized.path, card, options)
    try:
        return model_known_values(model)
    finally:
        model.close()


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
        known: Callable[[str], KnownValues] | None = None,
    ) -> None:
        """``known(reference)`` tells the strings a model with BYTES inputs takes (blocking;
        default :func:`load_known_values`)."""
        #: The gateway, ``http://host:port``.
        self.url = url
        self.sent = 0
        self.failed = 0
        self._store = store
        self._spec = spec
        self.rate_per_s = rate_per_s
        self._rng = np.random.default_rng(seed)
        self._known = known or functools.partial(load_known_values, store)
        #: Model reference → its signature and the strings it takes; None: no demo traffic.
        self._shapes: dict[str, tuple[Signature, KnownValues] | None] = {}
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
                    ok, response = False, None
                self.sent += 1
                self.failed += not ok
                if response is not None and response.status_code == 401:
                    log.warning(
                        "demo traffic stops: the gateway now requires API keys (a keys file "
                        "appeared) and the demo sends none"
                    )
                    return

    async def _target(self) -> tuple[str, bytes] | None:
        spec = self._spec()
        if spec is None:
            return None
        deployment = spec.deployments[int(self._rng.integers(len(spec.deployments)))]
        reference = main_version(deployment).model
        if reference not in self._shapes:
            self._shapes[reference] = await self._shape(deployment.name, reference)
        shape = self._shapes[reference]
        body = random_body(shape[0], self._rng, shape[1]) if shape is not None else None
        return (deployment.name, orjson.dumps(body)) if body is not None else None

    async def _shape(self, deployment: str, reference: str) -> tuple[Signature, KnownValues] | None:
        """The signature of the model at ``reference`` and the strings it takes; None, said in
        the log (this runs once per model), when it gets no demo traffic."""
        try:
            resolved = await asyncio.to_thread(self._store.resolve, reference)
        except InferdError as exc:
            log.warning("demo traffic skips %s: %s", reference, exc.message)
            return None
        signature = resolved.card.signature
        known: KnownValues = {}
        if takes_strings(signature):
            try:
                known = await asyncio.to_thread(self._known, reference)
            except Exception as exc:  # the demo must not fail: the load tells nothing then
                log.warning(
                    "demo traffic could not load %s to learn its strings: %s", reference, exc
                )
        missing = unknown_strings(signature, known)
        if missing:
            log.warning(
                "demo traffic sends nothing to %s (%s): the model does not tell which strings "
                "it takes in %s, and random text would say nothing about it",
                deployment,
                reference,
                ", ".join(repr(name) for name in missing),
            )
            return None
        return signature, known
