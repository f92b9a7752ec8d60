"""Bringing one fetched version up (load, warm up, batcher) and taking it down (drain, close).

Both run the model's own code only on the version's worker thread, never on the event loop.
Failures become :mod:`inferd.errors` exceptions whose messages are safe to show a client: a
framework's own exception is named in the reason with its message (on one line, at most
:data:`MAX_CAUSE` characters, the model directory's path taken out), since that message is
most often the cause itself (scikit-learn: "X has 5 features, but LogisticRegression is
expecting 4 features as input"); its traceback goes to the log.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from pathlib import Path

from inferd.card import LlmCard
from inferd.config import BatchingSettings
from inferd.datatypes import Tensors
from inferd.errors import (
    InferdError,
    InternalError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    WorkerRestarting,
)
from inferd.generation import TextGenerator
from inferd.observe.drift import DriftMonitor
from inferd.observe.metrics import ServerMetrics
from inferd.reference import Reference
from inferd.runtimes.base import Model
from inferd.runtimes.warmup import guessed_shapes, model_known_values, unknown_strings
from inferd.serving.artifact import LoadedArtifact
from inferd.serving.batcher import Batcher
from inferd.serving.observed import ObservedModel
from inferd.serving.signature import CheckedModel, SignatureCheck
from inferd.serving.source import Loaders
from inferd.serving.stats import VersionState
from inferd.serving.version import ServedVersion
from inferd.serving.worker import ModelWorker
from inferd.store.materialized import Hold

log = logging.getLogger(__name__)

#: The most of a framework exception's message a failed version's reason repeats.
MAX_CAUSE = 300


async def bring_up(
    sv: ServedVersion, loaders: Loaders, batching: BatchingSettings, metrics: ServerMetrics
) -> None:
    """Load ``sv.artifact`` on a new worker, run one warm-up inference, then mark it READY.

    On failure the version is FAILED with a reason, the load-failure counter grows, nothing is
    left running, and the error is raised (always an :class:`InferdError`).
    """
    artifact = sv.artifact
    assert artifact is not None, "fetch the artifact before bringing a version up"
    sv.set_state(VersionState.LOADING)
    started = time.monotonic()
    worker = ModelWorker(sv.label)
    model: Model | None = None
    ok = False
    failing = f"the {artifact.card.runtime!r} runtime failed to load it"
    holds: list[Hold] = []
    try:
        card = artifact.card
        trust, options = loaders.trust, loaders.options
        options = trust.options(artifact, options)
        if card.llm is not None and card.llm.base is not None:
            base = await worker.run(
                lambda: _base_file(loaders, sv.label, artifact.reference, card.llm)
            )
            options = dataclasses.replace(options, base=base)
        # Held while the runtime reads the files, so a cron ``gc`` leaves them in place.
        held = await worker.run(lambda: _held(loaders, artifact, holds))
        sv.artifact = held
        # Resolving a runtime may import its framework (scikit-learn: about a second), so it
        # runs on the worker thread like the load itself.
        model = await worker.run(
            lambda: loaders.runtime(card.runtime).load(held.path, card, options)
        )
        check = SignatureCheck(sv.key.name, card.signature)
        if card.signature.inputs:
            failing = "its warm-up inference, on inputs shaped by its signature, failed"
            known = model_known_values(model)
            inputs = loaders.warmup_inputs(card.signature, 1, known)
            guessed = bool(unknown_strings(card.signature, known))
            shapes = guessed_shapes(card.signature)
            await _warm_up(
                sv.label, worker, model, inputs, guessed=guessed, shapes=shapes, check=check,
                judges_inputs=card.runtime == "python",
            )  # fmt: skip
        ok = True
    except WorkerRestarting as exc:
        # Its worker died in the warm-up: the version fails for good and its model is closed
        # below, which cancels the restart the sandbox scheduled.
        reason = f"{failing}: its worker {exc.death}"
        sv.set_state(VersionState.FAILED, reason)
        raise InternalError(f"loading {sv.label} failed: {reason}") from None
    except InferdError as exc:
        # A refusal of the warm-up's inputs (a signature the model contradicts) says so.
        # The error keeps its code, and its message says it was the warm-up.
        warm_up = failing.startswith("its warm-up")
        reason = f"{failing} ({exc.message})" if warm_up else exc.message
        sv.set_state(VersionState.FAILED, reason)
        if warm_up:
            exc.message = f"loading {sv.label} failed: {reason}"
            exc.args = (exc.message,)
        raise
    except Exception as exc:
        log.exception("loading %s failed", sv.label)
        reason = f"{failing} ({_cause(exc, artifact.path)})"
        sv.set_state(VersionState.FAILED, reason)
        raise InternalError(f"loading {sv.label} failed: {reason}") from exc
    finally:
        for hold in holds:
            hold.close()
        metrics.load_finished(sv.key.name, sv.key.version, time.monotonic() - started, ok)
        if not ok:
            if model is not None:
                worker.submit(model.close, asyncio.get_running_loop(), _closed)
            worker.stop()
    sv.model = model
    sv.worker = worker
    if isinstance(model, TextGenerator):
        sv.generator = model
        metrics.llm.watch_load(sv.key.name, sv.key.version, model.load, model.occupancy)
    sv.check = check
    model = CheckedModel(model, check)
    profile = artifact.card.reference_profile
    if profile is None:  # a reload from a card without one: the replaced version's is stale
        metrics.drift.forget(sv.key.name, sv.key.version)
    else:
        # Batches pass through a drift monitor on the worker thread, after predict.
        monitor = DriftMonitor(profile)
        metrics.drift.watch(sv.key.name, sv.key.version, monitor)
        model = ObservedModel(model, monitor)
    sv.batcher = Batcher(
        sv.label, model, worker, batching,
        batchable=check.batchable, stats=sv.stats, metrics=sv.metrics,
    )  # fmt: skip
    sv.evicted = False
    sv.ready_at = int(time.time())
    sv.set_state(VersionState.READY)
    log.info("%s is ready (%.3f s)", sv.label, time.monotonic() - started)


async def take_down(
    sv: ServedVersion, state: VersionState, reason: str, *, wait: bool = True
) -> None:
    """Refuse new requests, let queued and running ones finish, close the model, stop its thread.

    Ends in ``state`` with ``reason``; a version that holds no model just changes state.
    ``wait`` False (the process is exiting after a drain that timed out): nothing is waited
    for, and a model still running a batch is left unclosed, since closing it would wait too.
    """
    batcher, model, worker = sv.batcher, sv.model, sv.worker
    if batcher is not None:
        sv.set_state(VersionState.UNLOADING)
        batcher.close()
        if wait:
            await batcher.drain()
        elif batcher.inflight:
            log.warning("%s is still running a batch: left unclosed as the server exits", sv.label)
            model = None
    sv.batcher = sv.model = sv.generator = sv.worker = None
    sv.check = None
    if model is not None:
        try:
            if worker is not None and worker.alive:
                await worker.run(model.close)
            else:
                await asyncio.to_thread(model.close)
        except Exception:
            log.exception("closing %s failed; its memory may not be released", sv.label)
    if worker is not None:
        worker.stop()
    sv.set_state(state, reason)


def _held(loaders: Loaders, artifact: LoadedArtifact, holds: list[Hold]) -> LoadedArtifact:
    """``artifact`` with its directory held against ``gc`` (the hold added to ``holds``). A
    directory gc removed since the fetch (a reload hours later, a cron ``gc --max-size``) is
    fetched again by its digest, so the same bytes load."""
    try:
        holds.append(Hold(artifact.path))
        return artifact
    except FileNotFoundError:
        pinned = dataclasses.replace(Reference.parse(artifact.reference), digest=artifact.digest)
        again = loaders.source.fetch(str(pinned))
        holds.append(Hold(again.path))
        return dataclasses.replace(artifact, path=again.path)


def _base_file(loaders: Loaders, label: str, reference: str, llm: LlmCard | None) -> Path:
    """The base model file an adapter's card pins, fetched (verified) from the source: from the
    store, else, for an adapter served from a registry, from that registry by the base's digest
    (:func:`_registry_bases`), as ``inferd serve host/name:tag`` fetched the adapter."""
    assert llm is not None and llm.base is not None
    remote = _registry_bases(reference, llm.base)
    refused: list[str] = []
    for where in (llm.base, *remote):
        try:
            base = loaders.source.fetch(where)
            break
        except NotFound:
            continue
        except (Unauthenticated, PermissionDenied) as exc:  # another repository may be closed
            refused.append(exc.message)
    else:
        if not remote:
            raise NotFound(
                f"{label} is an adapter over {llm.base}, which is not in the store: push or "
                "pull that base first"
            )
        registry = Reference.parse(remote[0]).registry
        why = f" ({'; '.join(refused)})" if refused else ""
        raise NotFound(
            f"{label} is an adapter over {llm.base}, which is neither in the store nor in "
            f"{registry} as {' or '.join(remote)}{why}: copy it there from a store that holds "
            f"it (inferd tag {llm.base} {remote[0].partition('@')[0]}:TAG), or pull it into "
            "this store first"
        )
    if base.card.entrypoint is None:
        raise InvalidArgument(f"the base {llm.base} of {label} names no model file")
    return base.path / base.card.entrypoint


def _registry_bases(reference: str, base: str) -> list[str]:
    """Where the registry an adapter was served from (``reference``: ``host/team/chat:a2``) may
    hold its ``base`` (``llm@sha256:…``), by that digest: the base's name in the adapter's
    namespace (``host/team/llm``; a name with a namespace of its own, ``team/llm``, as it is),
    the adapter's own repository (where an OCI ``subject`` may be pushed beside what refers to
    it), the base's name at the registry's root (``host/llm``).
    Empty for an adapter from the store itself."""
    try:
        adapter, pinned = Reference.parse(reference), Reference.parse(base)
    except InvalidArgument:
        return []
    if adapter.registry is None or pinned.digest is None:
        return []
    namespace = adapter.name.rpartition("/")[0]
    beside = f"{namespace}/{pinned.name}" if namespace and "/" not in pinned.name else pinned.name
    names = [beside, adapter.name, pinned.name]
    return [f"{adapter.registry}/{name}@{pinned.digest}" for name in dict.fromkeys(names)]


async def _warm_up(
    label: str,
    worker: ModelWorker,
    model: Model,
    inputs: Tensors,
    *,
    guessed: bool,
    shapes: list[str],
    check: SignatureCheck,
    judges_inputs: bool = False,
) -> None:
    """One inference on the warm-up ``inputs``, its outputs checked against the signature.

    Zeros are numbers like any other, but the empty strings a BYTES input gets where the model
    tells no string it takes (``guessed``; :class:`~inferd.runtimes.warmup.KnowsValues`) may be
    a value the model rightly refuses (scikit-learn's OneHotEncoder fitted on 'red', 'green' and
    'blue' raises on an unknown category unless told to ignore it, which the sklearn runtime
    answers as InvalidArgument): the refusal is then logged, and the version serves without a
    warm-up rather than never. So does a model whose signature leaves dimensions past the batch
    open (``shapes``: each such input and the shape it got, 1 for each of them), whatever it
    raised but a worker's death: a convolution refuses a 1x1 image a client never sends. And so
    does a model that ``judges_inputs`` (a python model's own code, whose documented way to
    refuse bad input is InvalidArgument) refusing the zeros: "amount must be positive" is the
    model working, where a framework's InvalidArgument means the signature contradicts it.
    """
    try:
        outputs = await worker.run(lambda: _predict(model, inputs))
    except Exception as exc:
        if shapes and not isinstance(exc, WorkerRestarting):
            log.warning(
                "%s failed its warm-up on shapes guessed for the dimensions its signature leaves "
                "open (%s; %s: %s); it serves without a warm-up. Declare them to warm it up: "
                "inferd push --signature FILE with each input's shape, e.g. [-1, 3, 224, 224]",
                label, ", ".join(shapes), type(exc).__name__, exc,
            )  # fmt: skip
            return
        refused = isinstance(exc, InvalidArgument) or not isinstance(exc, InferdError)
        if guessed and refused:
            what = "the empty strings of its warm-up"
        elif judges_inputs and isinstance(exc, InvalidArgument):
            what = "its warm-up's inputs (zeros and empty strings)"
        else:
            raise
        log.warning(
            "%s refused %s (%s: %s); it serves without a warm-up",
            label, what, type(exc).__name__, exc,
        )  # fmt: skip
        return
    _check_warmup(label, outputs, check)


def _predict(model: Model | None, inputs: Tensors) -> Tensors:
    assert model is not None
    return model.predict(inputs)


def _cause(exc: Exception, directory: Path) -> str:
    """``Type: message`` of a framework's exception, on one line, without ``directory``'s
    path (its files named as the model names them) and cut to :data:`MAX_CAUSE` characters."""
    message = " ".join(str(exc).split())
    for prefix in {f"{directory.resolve()}/", f"{directory}/"}:
        message = message.replace(prefix, "")
    if len(message) > MAX_CAUSE:
        message = message[: MAX_CAUSE - 1] + "…"
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _closed(_: object, error: BaseException | None) -> None:
    if error is not None:
        log.error("closing a model that failed to load raised", exc_info=error)


def _check_warmup(label: str, outputs: Tensors, check: SignatureCheck) -> None:
    """The warm-up must give every declared output as declared (:meth:`SignatureCheck.conform`),
    one row each when the model batches. Outputs it gives beyond those are logged: they are
    left out of every answer."""
    conformed = check.conform(outputs)
    undeclared = [name for name in outputs if name not in conformed]
    if undeclared:
        log.warning(
            "%s gives outputs its signature does not declare, left out of its answers: %s",
            label, ", ".join(undeclared),
        )  # fmt: skip
    if check.batchable:
        for name, array in conformed.items():
            if array.ndim == 0 or array.shape[0] != 1:
                raise InternalError(
                    f"warm-up of {label} gave {name!r} with shape {list(array.shape)} for one row"
                )
