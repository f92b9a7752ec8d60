"""The local store's tags as :meth:`~inferd.store.ModelStore.list` returns them.

A listing is how a user finds what to remove or push again, so one damaged version (its
manifest or card blob missing or corrupt, or a file's blob missing) is a row of its own, marked
with what is wrong, never an error that hides every healthy version beside it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from inferd.card import ModelCard
from inferd.errors import InferdError, InvalidArgument, InvalidReference, Unsupported
from inferd.reference import (
    Reference,
    port_of,
    registry_host_problem,
    split_registry,
    validate_name,
)
from inferd.store import history, materialized
from inferd.store.layout import OciLayout
from inferd.store.manifest import Manifest
from inferd.store.results import TagEntry

#: Reads a version by manifest digest: its verified manifest and card.
Loader = Callable[[str], tuple[Manifest, ModelCard]]


def parse_name(name: str) -> tuple[str | None, str]:
    """``[registry/]name`` as ``ls`` takes it: ``(registry or None, name)``. A tag or digest
    after it is refused naming what to give, with its registry (``risk/fraud`` alone would be
    the local model), and a bare ``HOST:PORT`` says how to name a repository in it."""
    registry, repo = split_registry(name)
    base = re.split("[:@]", repo, maxsplit=1)[0]
    if base != repo and _valid(base):
        given = base if registry is None else f"{registry}/{base}"
        problem = f"this takes a model name without a tag or digest, here {given!r}"
        if registry is None and registry_host_problem(name) is None and port_of(name):
            problem += f"; to list a registry's repository, name it: '{name}/NAME'"
        raise InvalidReference(name, problem)
    if registry is not None:
        Reference.parse(name)  # a bad name is refused naming the whole reference
    return registry, validate_name(repo)


def _valid(name: str) -> bool:
    try:
        validate_name(name)
    except InvalidReference:
        return False
    return True


def local_tags(layout: OciLayout, name: str | None, load: Loader) -> list[TagEntry]:
    """Every inferd ``name:tag`` in ``layout``'s index (of ``name``, if given), sorted by name
    then tag; ``created`` is when the version first got a tag here, else its card's.

    Entries other tools wrote (not an inferd ``name:tag``, not an inferd model) are left out.
    A version that cannot be read is listed with ``error`` set, no runtime and no size.
    """
    entries: list[TagEntry] = []
    layout.settle()  # a tag move a crash left journaled shows in ``created`` too
    arrived = history.arrivals(layout.history_file)
    for ref_name, digest in layout.read_index().tags():
        try:
            ref = Reference.parse_tagged(ref_name)
        except InvalidArgument:
            continue  # an entry another tool wrote, not an inferd name:tag
        if name is not None and ref.name != name:
            continue
        tag, first = ref.tag or "", arrived.get((ref.name, digest))
        try:
            manifest, card = load(digest)
        except Unsupported:
            continue  # an image or artifact another tool copied into the layout
        except (InferdError, OSError) as exc:
            problem = exc.message if isinstance(exc, InferdError) else _reason(exc)
            entries.append(TagEntry(ref.name, tag, digest, "", None, first, problem))
            continue
        lost = [m for m in manifest.layers if not layout.blobs.exists(m.digest)]
        if lost:  # a file blob removed as corrupt, deleted, lost with a disk: pull would fail
            problem = materialized.missing_file(lost[0].title, lost[0].digest)
            entries.append(TagEntry(ref.name, tag, digest, "", None, first, problem))
            continue
        created = first if first is not None else card.created
        entries.append(TagEntry(ref.name, tag, digest, card.runtime, manifest.size, created))
    return sorted(entries, key=lambda e: (e.name, e.tag))


def _reason(exc: OSError) -> str:
    return f"cannot read it: {exc.strerror or type(exc).__name__}"
