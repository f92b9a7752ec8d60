"""A spec file with right-sizing proposals written in, ready for ``inferd apply``.

The proposals are applied to the file's YAML document as the user wrote it, not to a parsed
:class:`~inferd.spec.model.Spec`: durations, quantities and every other value keep their
written form (a parsed spec holds durations as seconds, which would not read back), and a
deployment or version is found by its name. Comments do not survive the round trip; the
header says what was changed.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, MutableMapping
from typing import Any

import yaml

from inferd.cost.recommend import Proposal
from inferd.errors import InvalidArgument


def patched(document: object, proposals: Iterable[Proposal]) -> dict[str, Any]:
    """A copy of the spec ``document`` (parsed YAML) with each proposal's value set."""
    if not isinstance(document, dict) or not isinstance(document.get("deployments"), list):
        raise InvalidArgument("the spec file has no 'deployments' list to patch")
    out: dict[str, Any] = copy.deepcopy(document)
    for p in proposals:
        owner = _named(out["deployments"], p.deployment, "deployment")
        if p.version is not None:
            owner = _named(owner.get("versions"), p.version, f"version of {p.deployment!r}")
        *parents, leaf = p.field.split(".")
        for key in parents:
            child = owner.get(key)
            if child is None:
                child = owner[key] = {}
            if not isinstance(child, dict):
                raise InvalidArgument(f"{p.path}: {key!r} in the spec file is not a mapping")
            owner = child
        owner[leaf] = p.proposed
    return out


def patch_text(document: object, proposals: Iterable[Proposal], source: str) -> str:
    """The patched spec as YAML, headed by a comment listing the changes."""
    listed = list(proposals)
    header = [f"# {source}, right-sized by `inferd cost recommend`:"]
    header += [
        f"#   {p.path}: {'unset' if p.current is None else p.current} -> {p.proposed}"
        for p in listed
    ]
    body = yaml.safe_dump(patched(document, listed), sort_keys=False, allow_unicode=True)
    return "\n".join(header) + "\n" + body


def _named(items: object, name: str, what: str) -> MutableMapping[str, Any]:
    for item in items if isinstance(items, list) else ():
        if isinstance(item, dict) and item.get("name") == name:
            return item
    raise InvalidArgument(
        f"the spec file has no {what} named {name!r}; it is not the spec `inferd up` runs "
        "(pass that one with --spec)"
    )
