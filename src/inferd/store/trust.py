"""Which stored files may be handed out: those admitted as data, or trusted by this store's users.

Trust is local. A push with ``--trust-unsafe-format`` appends one ``trust-format`` event per
refused file (its blob digest, title and format) to this store's history (:func:`record`). A
version arriving from a registry, or taken from the pull cache, is checked layer by layer
(:func:`check_layers`) against admission (:mod:`.admission`) and that history. The card's
``trusted_unsafe_formats`` is what whoever pushed it claimed, and anyone can write a card, so it
is never consulted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from inferd.errors import Unavailable, UnsafeFormat
from inferd.store import history
from inferd.store.admission import refusals
from inferd.store.layout import OciLayout
from inferd.store.manifest import Manifest

_PULL_REMEDY = (
    "a card's trusted_unsafe_formats does not count: this store accepts such a file only after "
    "one of its users pushed the same bytes with --trust-unsafe-format"
)


@dataclass(frozen=True, slots=True)
class TrustedFile:
    """A pushed file the store does not admit, stored because the pusher trusted it."""

    title: str
    digest: str
    format: str


def record(layout: OciLayout, name: str, tag: str, files: Iterable[TrustedFile]) -> None:
    """Append the pusher's trust in ``files`` to the history; takes the store lock."""
    entries = [
        history.event(name, tag, "trust-format", None, f.digest, detail=f"{f.title}: {f.format}")
        for f in files
    ]
    if not entries:
        return
    with layout.locked():
        for entry in entries:
            history.append(layout.history_file, entry)


def check_layers(layout: OciLayout, manifest: Manifest) -> None:
    """Raise UnsafeFormat for the first layer neither admitted nor trusted in the history.

    Every blob of ``manifest`` must be in ``layout`` (verified on arrival); one that a
    concurrent ``gc`` removed raises Unavailable.
    """
    trusted = history.trusted_blobs(layout.history_file)
    files = {
        item.title: layout.blobs.path(item.digest)
        for item in manifest.layers
        if item.digest not in trusted
    }
    try:
        refused = refusals(files)
    except FileNotFoundError:
        raise Unavailable("a concurrent gc removed blobs of this version; pull again") from None
    if refused:
        title, refusal = next(iter(refused.items()))
        raise UnsafeFormat(title, refusal.format, refusal.reason, _PULL_REMEDY)
