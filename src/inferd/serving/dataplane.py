"""The data plane: the one transport-neutral entry that REST, gRPC and KServe v1 all call.

It implements :class:`inferd.serving.types.DataPlane` over a :class:`ModelManager`: it routes a
request to a version, checks it against the version's signature before queueing, hands it to the
version's batcher, filters the outputs to the requested ones, and counts the outcome.

Control-plane loads of one name and reference that arrive while one is under way join it: one
fetch, one load, and every caller gets its outcome, a failure included (R25: ten concurrent
loads of a remote reference pulled its blobs once but resolved the tag ten times, one after the
other, and against a failing registry answered the last caller after ten rounds of retries).
The load is a task of its own, so a caller that goes away does not fail the others. A caller
that joined gets the version that load resolved, even if the tag moved meanwhile; a load that
arrives after it ended starts its own and resolves the reference afresh, so a failure is not kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time

from inferd import __version__
from inferd.config import ServerSettings
from inferd.datatypes import Tensors, oip_datatype
from inferd.errors import (
    Code,
    InferdError,
    InternalError,
    InvalidArgument,
    InvalidTensor,
    ModelNotFound,
    NotFound,
    Unavailable,
    Unsupported,
)
from inferd.generation import TextGenerator
from inferd.observe.metrics import ServerMetrics
from inferd.serving.generation import TEST_SLOWDOWN_LABEL, RunningGenerations, ServedGenerator
from inferd.serving.manager import ModelManager
from inferd.serving.signature import SignatureCheck
from inferd.serving.stats import ModelStatistics, VersionState
from inferd.serving.types import (
    InferRequest,
    InferResponse,
    ListedModel,
    ListedVersion,
    ModelInfo,
    RepositoryEntry,
    ServerInfo,
    Tensor,
)
from inferd.serving.version import ServedVersion

log = logging.getLogger(__name__)

#: Extensions listed in server metadata (``model_repository`` where a control plane serves it).
EXTENSIONS = ("binary_tensor_data", "model_repository", "statistics", "kserve_v1")

#: The ``outcome`` label of ``inferd_requests_total`` for each error code.
_OUTCOME = {
    Code.UNAVAILABLE: "unavailable",
    Code.DEADLINE_EXCEEDED: "deadline",
    Code.INTERNAL: "error",
    Code.DATA_LOSS: "error",
}


class ServingDataPlane:
    """:class:`~inferd.serving.types.DataPlane` over a model manager; call it on the event loop."""

    def __init__(
        self,
        manager: ModelManager,
        metrics: ServerMetrics,
        settings: ServerSettings,
        *,
        repository: bool = True,
    ) -> None:
        """``repository``: a control plane serves the repository extension (load, unload,
        index), so server metadata lists it."""
        self._manager = manager
        self._metrics = metrics
        self._settings = settings
        listed = [e for e in EXTENSIONS if repository or e != "model_repository"]
        self._metadata = ServerInfo("inferd", __version__, tuple(listed))
        #: Control-plane loads under way, by (name, reference): callers of one share it.
        self._loads: dict[tuple[str, str | None], asyncio.Task[None]] = {}
        #: Generations under way (the drain waits for them).
        self._generations = RunningGenerations()

    # -- health and metadata -------------------------------------------------------------------

    def live(self) -> bool:
        """The process can serve: every loaded version's worker thread is alive."""
        return self._manager.live()

    def ready(self) -> bool:
        """Every served model's default version is loaded and warm, and no drain has begun."""
        return self._manager.ready()

    def model_ready(self, name: str, version: str | None = None) -> bool:
        try:
            return self._manager.get(name, version).ready
        except InferdError:
            return False

    def server_metadata(self) -> ServerInfo:
        return self._metadata

    def model_metadata(self, name: str, version: str | None = None) -> ModelInfo:
        served = self._manager.get(name, version)
        if served.artifact is None:
            raise ModelNotFound(name, version)
        signature = served.artifact.card.signature
        return ModelInfo(
            name=name,
            versions=tuple(v.key.version for v in self._manager.versions(name)),
            platform=served.platform(),
            inputs=signature.inputs,
            outputs=signature.outputs,
        )

    # -- inference -----------------------------------------------------------------------------

    def input_check(self, name: str, version: str | None = None) -> SignatureCheck | None:
        try:
            return self._manager.get(name, version).check
        except NotFound as exc:
            # Unknown model or version: 404 before the body is decoded (a mistake in the body
            # would otherwise be a 400 for a request that could never run), counted as infer()
            # counts it.
            self._metrics.unknown_model_request(_OUTCOME.get(exc.code, "client_error"))
            raise
        except InferdError:
            return None  # infer() raises it again, and counts the request

    def refused(self, name: str, version: str | None = None) -> None:
        try:
            served = self._manager.get(name, version)
        except InferdError:
            self._metrics.unknown_model_request("client_error")
            return
        served.metrics.requests["client_error"].inc()

    async def infer(self, request: InferRequest) -> InferResponse:
        """Run one request. Raises :mod:`inferd.errors` exceptions only; every request counts
        under exactly one outcome of ``inferd_requests_total``."""
        started = time.monotonic()
        try:
            served = self._manager.get(request.model, request.version)
        except InferdError as exc:
            # No known version to label it with: one shared series, whatever the name was.
            self._metrics.unknown_model_request(_OUTCOME.get(exc.code, "client_error"))
            raise
        metrics = served.metrics
        outcome = "client_error"  # also what a cancelled (disconnected) request counts as
        try:
            response = await self._infer(request, served, started)
            outcome = "success"
            return response
        except InferdError as exc:
            outcome = _OUTCOME.get(exc.code, "client_error")
            raise
        except Exception as exc:
            log.exception("unexpected failure serving %s", served.label)
            outcome = "error"
            raise InternalError(f"internal error while serving {served.label}") from exc
        finally:
            elapsed = time.monotonic() - started
            metrics.requests[outcome].inc()
            metrics.latency.observe(elapsed)
            (served.stats.success if outcome == "success" else served.stats.fail).add(
                int(elapsed * 1e9)
            )

    async def _infer(
        self, request: InferRequest, served: ServedVersion, started: float
    ) -> InferResponse:
        deadline = request.deadline
        if deadline is None:
            timeout = served.request_timeout_s
            if timeout is None:  # its first request (settings are frozen)
                timeout = self._settings.request_timeout_for(served.key.name)
                served.request_timeout_s = timeout
            deadline = started + timeout
        served.last_used = started
        if not served.serving:
            await self._manager.ensure_serving(served, deadline)
        if served.generator is not None:
            raise Unsupported(
                f"model {served.key.name!r} is a language model: it answers "
                f"POST /v2/models/{served.key.name}/generate and OpenAI's /v1/chat/completions "
                "and /v1/completions, not tensor inference"
            )
        check, batcher = served.check, served.batcher
        assert check is not None and batcher is not None, "a serving version has both"
        checked = check.inputs(request.inputs)
        requested = request.outputs  # None (most): every output, without check.outputs' call
        wanted = None if requested is None else check.outputs(requested)
        outputs = await batcher.submit(
            checked.tensors, checked.rows, checked.key, deadline, request.timings
        )
        return InferResponse(
            model_name=served.key.name,
            model_version=served.key.version,
            outputs=_select(served, outputs, wanted),
            id=request.id,
        )

    # -- generation (language models) ---------------------------------------------------------

    async def generator(self, name: str, version: str | None = None) -> ServedGenerator:
        """The language model served as ``name`` (its default version unless ``version``),
        loaded if it was evicted. NotFound for an unknown name, InvalidArgument for a model
        that is not a language model."""
        served = self._manager.get(name, version)
        if not served.serving:
            deadline = time.monotonic() + self._settings.request_timeout_for(name)
            await self._manager.ensure_serving(served, deadline)
        served.last_used = time.monotonic()
        model = served.generator
        if model is None:
            raise InvalidArgument(
                f"model {name!r} is not a language model (runtime "
                f"{served.platform()!r}); use /v2/models/{name}/infer"
            )
        return self._served_generator(served, model)

    def generators(self) -> list[ListedModel]:
        """Every language-model default version a request may name, by name: serving, or
        evicted by the memory budget (its next request loads it again)."""
        found: list[ListedModel] = []
        for name in self._names():
            try:
                served = self._manager.get(name)
            except InferdError:
                continue
            if _answers(served):
                others = [v for v in self._manager.versions(name) if v is not served]
                versions = [_listed(v) for v in [served, *others] if _answers(v)]
                found.append(ListedModel(name, _created(served), tuple(filter(None, versions))))
        return found

    def _served_generator(self, served: ServedVersion, model: TextGenerator) -> ServedGenerator:
        card = served.artifact.card if served.artifact is not None else None
        created = _created(served)
        delay_ms = card.labels.get(TEST_SLOWDOWN_LABEL, "0") if card is not None else "0"
        try:
            delay_s = max(float(delay_ms), 0.0) / 1000
        except ValueError:
            raise InvalidArgument(
                f"label {TEST_SLOWDOWN_LABEL} of {served.label} is not a number of ms: {delay_ms!r}"
            ) from None
        return ServedGenerator(
            served.key.name, served.key.version, model, self._metrics.llm, created, delay_s,
            self._generations,
        )  # fmt: skip

    # -- repository, statistics, drain ---------------------------------------------------------

    def repository_index(self, ready_only: bool = False) -> list[RepositoryEntry]:
        rows = self._manager.index()
        if ready_only:
            return [r for r in rows if r.state is VersionState.READY]
        return rows

    async def load(self, name: str, reference: str | None = None) -> None:
        """Load ``reference`` as ``name``'s default version, or join that load if it is under
        way (see the module docstring)."""
        key = (name, reference)
        load = self._loads.get(key)
        if load is None or load.done():  # done: ended, its callback not run yet
            load = self._loads[key] = asyncio.ensure_future(self._manager.load(name, reference))
            load.add_done_callback(functools.partial(self._forget_load, key))
        await asyncio.shield(load)

    def _forget_load(self, key: tuple[str, str | None], load: asyncio.Task[None]) -> None:
        if self._loads.get(key) is load:
            del self._loads[key]
        if not load.cancelled():
            load.exception()  # retrieved: every caller may have left before it failed

    async def unload(self, name: str) -> None:
        await self._manager.unload(name)

    def model_stats(
        self, name: str | None = None, version: str | None = None
    ) -> list[ModelStatistics]:
        """Statistics of every loaded version, one model, or one version."""
        if name is None:
            chosen = [v for n in self._names() for v in self._manager.versions(n)]
        else:
            if not self._manager.knows(name):
                raise ModelNotFound(name, version)
            chosen = [
                v
                for v in self._manager.versions(name)
                if version is None or v.key.version == version
            ]
            if version is not None and not chosen:
                raise ModelNotFound(name, version)
        return [v.stats.snapshot(v.key.name, v.key.version) for v in chosen]

    def begin_drain(self) -> None:
        """Readiness turns false at once; requests keep being served."""
        self._manager.begin_drain()

    async def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for in-flight work, language models' generations included;
        True if everything finished. At the timeout the generations still running are stopped
        with Unavailable: a stream sends it as its error event and ends properly."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        drained = await self._manager.drain(timeout)
        if drained:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._generations.idle(), deadline - loop.time())
        if drained and not self._generations:
            return True
        self._generations.stop(
            Unavailable(
                f"the server is shutting down: the generation was still running when its drain "
                f"timed out (drain_timeout_s {timeout:g} s); retry"
            )
        )
        return False

    async def close(self, drained: bool = True) -> None:
        """Stop the loads under way, then unload every model (call after :meth:`drain`, with
        what it returned: after a timed-out drain, a batch still running is not waited for)."""
        loads = list(self._loads.values())
        for load in loads:
            load.cancel()
        await asyncio.gather(*loads, return_exceptions=True)
        await self._manager.close(drained)

    def _names(self) -> list[str]:
        return sorted({v.key.name for v in self._manager.all_versions()})


def _select(served: ServedVersion, outputs: Tensors, wanted: list[str] | None) -> list[Tensor]:
    names = list(outputs) if wanted is None else wanted
    selected = []
    for name in names:
        array = outputs.get(name)
        if array is None:
            raise InvalidTensor(name, f"model {served.key.name!r} gave no output of that name")
        selected.append(Tensor(name, oip_datatype(array.dtype), array))
    return selected


def _answers(served: ServedVersion) -> bool:
    """A language-model version a request may reach: serving, or evicted by the memory budget
    (its next request loads it again)."""
    card = served.artifact.card if served.artifact is not None else None
    evicted = served.evicted and card is not None and card.llm is not None
    return evicted or (served.serving and served.generator is not None)


def _listed(served: ServedVersion) -> ListedVersion | None:
    artifact = served.artifact
    if artifact is None:
        return None
    base = artifact.card.llm.base if artifact.card.llm is not None else None
    length = served.generator.context_length if served.generator is not None else None
    return ListedVersion(served.key.version, artifact.reference, artifact.digest, base, length)


def _created(served: ServedVersion) -> int:
    """OpenAI's ``created`` of a version: when its card was made, else when it loaded."""
    card = served.artifact.card if served.artifact is not None else None
    return int(card.created.timestamp()) if card and card.created else served.ready_at
