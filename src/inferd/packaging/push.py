"""``inferd push``: a model's files become a version in the store.

The store checks the files first (:meth:`~inferd.store.ModelStore.stage`: symlinks, titles,
admission), so nothing below runs on a file the pusher did not trust. This module then
describes them in a card (runtime and signature detected by :mod:`inferd.runtimes.detect`, the
metadata file, a reference profile from :mod:`inferd.observe.profile`, a language model's
headers by :mod:`inferd.packaging.llm`), and the store writes and tags the version
(:meth:`~inferd.store.ModelStore.commit`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from inferd.card import ModelCard, Signature, TensorSpec
from inferd.errors import InvalidArgument, NotFound, Unsupported
from inferd.observe.profile import check_profile, read_reference_data
from inferd.packaging.llm import AdapterBase, describe_llm, resolve_base
from inferd.packaging.metadata import METADATA_FILE, ModelMetadata, find_metadata, load_metadata
from inferd.runtimes._tabular import NotDerived
from inferd.runtimes.detect import Detection, check_signature, derive_signature, detect_model
from inferd.store import ModelStore, PushResult, Staged

log = logging.getLogger(__name__)

#: The last second a datetime holds, 9999-12-31T23:59:59Z, in seconds since the epoch.
LAST_SOURCE_DATE = 253_402_300_799


@dataclass(frozen=True, slots=True)
class CardOptions:
    """What the pusher says about the model (see :func:`push`); ``None``: not said."""

    runtime: str | None = None
    signature: Signature | None = None
    labels: Mapping[str, str] | None = None
    source_revision: str | None = None
    metadata: Path | None = None
    #: Training rows (.npy, .npz or CSV) to compute the card's reference profile from.
    reference_data: Path | None = None
    #: The declared build time (:func:`source_date`); None keeps the card free of any time.
    created: datetime | None = None
    #: For an adapter: the base version it applies to, resolved in the store.
    base: AdapterBase | None = None


def source_date(environ: Mapping[str, str]) -> datetime | None:
    """The build time ``SOURCE_DATE_EPOCH`` declares (reproducible-builds.org: whole seconds
    since the epoch), or None when it is unset or empty; InvalidArgument for a value that is
    not a whole number, or one past what a date can hold (the year 9999)."""
    text = environ.get("SOURCE_DATE_EPOCH", "")
    if not text:
        return None
    if not text.isascii() or not text.isdigit():
        raise InvalidArgument(f"SOURCE_DATE_EPOCH={text!r} is not a whole number of seconds")
    try:
        return datetime.fromtimestamp(int(text), UTC)
    except (OverflowError, OSError, ValueError):  # which one depends on the value and platform
        raise InvalidArgument(
            f"SOURCE_DATE_EPOCH={text!r} is out of range (at most {LAST_SOURCE_DATE}, the end "
            "of the year 9999)"
        ) from None


def describe(staged: Staged, options: CardOptions) -> ModelCard:
    """The card of a staged version: the pusher's options, the model's own declarations, then
    the metadata file, in that order of precedence."""
    path = staged.path
    file = options.metadata if options.metadata is not None else find_metadata(path)
    meta = load_metadata(file) if file is not None else ModelMetadata()
    try:
        detection = detect_model(path, options.runtime or meta.runtime, entrypoint=meta.entrypoint)
    except NotFound as exc:
        if file is None or meta.entrypoint is None:
            raise
        # The staged path exists, so what is missing is the file the metadata names: bad
        # metadata, the pusher's input (exit 2), not a missing model (exit 3).
        raise InvalidArgument(f"{file.name}: {exc.message}") from None
    if file is not None and meta.entrypoint is not None:
        _check_file_entrypoint(path, meta.entrypoint, detection, file.name)
    llm = describe_llm(staged, detection, options.base)
    source = file.name if file is not None else METADATA_FILE
    signature = options.signature or detection.signature or _declared(meta, path, detection, source)
    if options.signature is None and detection.signature is not None:
        _warn_unused(meta, detection.signature, source, detection.entrypoint)
    check_signature(detection.runtime, signature)
    profile = meta.reference_profile
    if options.reference_data is not None:
        profile = read_reference_data(options.reference_data, signature)
    elif profile is not None:
        check_profile(profile, signature)
    return ModelCard(
        name=staged.target.name,
        runtime=detection.runtime,
        signature=signature,
        labels={**meta.labels, **(options.labels or {})},
        metrics=meta.metrics,
        source_revision=options.source_revision,
        entrypoint=detection.entrypoint,
        trusted_unsafe_formats=staged.trusted_formats,
        reference_profile=profile,
        created=options.created,
        llm=llm,
    )


def _check_file_entrypoint(path: Path, entrypoint: str, found: Detection, source: str) -> None:
    """A file pushed alone is the model: a metadata entrypoint naming another file (which
    detection, taking the file, passes over) is bad metadata, as in a directory."""
    if not path.is_file() or found.entrypoint != path.name:
        return  # a directory (checked by detection), or a class (python: module:Class)
    if PurePosixPath(entrypoint.replace("\\", "/")) != PurePosixPath(path.name):
        raise InvalidArgument(f"{source}: entrypoint {entrypoint!r} is not a file in the model")


def _warn_unused(meta: ModelMetadata, own: Signature, source: str, model: str | None) -> None:
    """Say on stderr where the metadata file ``source`` declares inputs or outputs other than
    the ones the model file declares (ONNX), which the card takes: the metadata's go unused."""
    differ = [
        (part, given)
        for part, declared, given in (
            ("inputs", meta.inputs, own.inputs),
            ("outputs", meta.outputs, own.outputs),
        )
        if declared and declared != given
    ]
    if not differ:
        return
    takes = "; ".join(
        f"{part} " + ", ".join(f"{t.name} {t.datatype} {list(t.shape)}" for t in given)
        for part, given in differ
    )
    log.warning(
        "%s: its %s are not used: %s declares its own, which the card takes (%s)",
        source, " and ".join(part for part, _ in differ), model or "the model", takes,
    )  # fmt: skip


def _declared(meta: ModelMetadata, path: Path, detection: Detection, source: str) -> Signature:
    """The metadata's inputs and outputs; where it leaves either out, what the runtime answers
    with as the model file tells it (:func:`~inferd.runtimes.detect.derive_signature`: a
    booster's features and predictions; what an ONNX file declaring no rank for some tensor
    does declare). InvalidArgument for an input width the metadata file ``source`` declares
    and the model file contradicts."""
    if (meta.inputs and meta.outputs) or detection.entrypoint is None:
        return meta.signature or Signature()
    file = path if path.is_file() else path / detection.entrypoint
    try:
        derived = derive_signature(file, detection.runtime)
    except Unsupported as exc:
        raise Unsupported(
            f"{exc.message}; or declare the model's inputs and outputs in {METADATA_FILE}"
        ) from None
    except NotDerived as exc:
        partial = exc.partial
        signature = Signature(
            inputs=meta.inputs or partial.inputs, outputs=meta.outputs or partial.outputs
        )
        # Said on the pusher's terminal (no logging is configured there, so Python's last-resort
        # handler prints it to stderr): a card without inputs gets no request checks, no
        # batching and no example request, which should not pass unnoticed.
        left = " and ".join(
            part
            for part, given in (("inputs", signature.inputs), ("outputs", signature.outputs))
            if not given
        )
        if left:
            log.warning(
                "%s: no signature derived: %s; the card declares no %s (declare them in %s or "
                "with --signature FILE)",
                file.name, exc.reason, left, METADATA_FILE,
            )  # fmt: skip
        return signature
    if derived is None:
        return meta.signature or Signature()
    _check_width(meta.inputs, derived.inputs, source, file.name)
    return Signature(inputs=meta.inputs or derived.inputs, outputs=meta.outputs or derived.outputs)


def _check_width(
    declared: tuple[TensorSpec, ...], told: tuple[TensorSpec, ...], source: str, model: str
) -> None:
    """InvalidArgument when the one matrix input ``declared`` (in the metadata file
    ``source``) has a width other than the model file ``model`` tells (``told``): every
    request, its warm-up first, would fail."""
    if len(declared) != 1 or len(told) != 1:
        return
    (spec,), (file_spec,) = declared, told
    if len(spec.shape) != 2 or len(file_spec.shape) != 2:
        return
    width, features = spec.shape[1], file_spec.shape[1]
    if -1 not in (width, features) and width != features:
        raise InvalidArgument(
            f"{source}: input {spec.name!r} is declared of shape {list(spec.shape)}, but "
            f"{model!r} takes {features} features (declare [-1, {features}])"
        )


def push(
    store: ModelStore,
    path: Path,
    ref: str,
    *,
    runtime: str | None = None,
    signature: Signature | None = None,
    trust_unsafe_format: bool = False,
    labels: Mapping[str, str] | None = None,
    source_revision: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    metadata: Path | None = None,
    network_progress: Callable[[int, int], None] | None = None,
    reference_data: Path | None = None,
    created: datetime | None = None,
    base: str | None = None,
) -> PushResult:
    """Store the file or directory at ``path`` in ``store`` as a new version and tag it ``ref``.

    The runtime is ``runtime``, else ``inferd.model.yaml``'s, else detected from content;
    the signature is ``signature``, else the model's own (ONNX), else the YAML's.
    ``metadata`` names a YAML file to use instead of ``inferd.model.yaml`` beside/inside
    ``path``. Files not admitted as data (:mod:`inferd.store.admission`) raise UnsafeFormat
    unless ``trust_unsafe_format``, which the history records (``trust-format`` events).
    ``reference_data`` (training rows: .npy, .npz or CSV with a header; never pickle) becomes
    the card's reference profile for drift, replacing one the YAML may carry.
    ``progress(done, total)`` is called with bytes as files stream into the store.
    Nothing records when the push ran (the store's history does), so the same files and options
    give the same digest; ``created`` (e.g. :func:`source_date`) declares a build time.

    A remote ``ref`` is packaged locally, then uploaded (``network_progress`` reports the
    bytes sent); the result's ``transfer`` says what moved.

    ``base`` (a store reference) makes a GGUF LoRA adapter a version over that model: its card
    pins the base by digest, and the adapter is refused unless it fits the base.
    """
    adapted = resolve_base(store, base) if base is not None else None
    staged = store.stage(path, ref, trust_unsafe_format=trust_unsafe_format)
    options = CardOptions(
        runtime, signature, labels, source_revision, metadata, reference_data, created, adapted
    )
    card = describe(staged, options)
    return store.commit(staged, card, progress=progress, network_progress=network_progress)
