"""What the manager holds for one model name: its versions in every state, and what to show.

One row per known version in the repository index, in this order of precedence: the version
that serves (a reload under way or failed shows as its reason), then a fetch or load under way,
then a version retiring, then a version whose latest load failed. A version whose reference
was never found is not known and has no row.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace

from inferd.serving.artifact import VersionKey
from inferd.serving.stats import VersionState
from inferd.serving.types import RepositoryEntry
from inferd.serving.version import ServedVersion


@dataclass(eq=False)
class ModelEntry:
    """One model name: its versions, which one is the default, and its load attempts."""

    name: str
    #: The reference the default version was served from (reloaded by ``load(name)``).
    reference: str
    default: str | None = None
    versions: dict[str, ServedVersion] = field(default_factory=dict)
    #: The version whose files are being fetched (not known yet: no series).
    fetching: str | None = None
    #: The load under way, once its files are here (LOADING).
    attempt: ServedVersion | None = None
    #: Versions whose latest load failed, by version, the latest failure last.
    failed: dict[str, ServedVersion] = field(default_factory=dict)
    #: Replaced versions still finishing their in-flight work (UNLOADING).
    retiring: list[ServedVersion] = field(default_factory=list)
    #: Why the latest load left no version behind (e.g. its reference was not found).
    missing: str = ""
    unloaded: bool = False
    #: Named when the server started: readiness waits for it even while nothing of it is known.
    wanted: bool = False
    #: Versions named when the server started whose first load has not finished yet.
    pending: set[str] = field(default_factory=set)
    #: Control-plane loads waiting for or holding ``lock``.
    loads: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def why_not_ready(self) -> str:
        if self.fetching is not None or self.attempt is not None:
            return "loading"
        if self.failed:
            latest = next(reversed(self.failed.values()))
            return f"{latest.label} {latest.reason}"
        return self.missing or "not loaded"

    def loading(self, version: str) -> bool:
        """``version`` is on its way: named at start-up and not tried yet, or being fetched
        or loaded now."""
        attempt = self.attempt.key.version if self.attempt is not None else None
        return version in self.pending or version in (self.fetching, attempt)

    def ready(self) -> bool:
        """Unloaded on purpose, or its default version serving (or evicted by the memory
        budget, which loads on demand)."""
        if self.unloaded:
            return True
        served = self.versions.get(self.default) if self.default is not None else None
        return served is not None and (served.ready or served.evicted)

    def vacant(self) -> bool:
        """Nothing of it is known or wanted: no version, failure or load under way."""
        held = self.versions or self.failed or self.retiring or self.attempt or self.fetching
        return not (held or self.wanted or self.loads)

    def known(self, key: VersionKey) -> ServedVersion | None:
        """The object behind ``key``'s series: serving, loading, retiring or failed."""
        served = self.versions.get(key.version)
        if served is None:
            others = [*self.retiring, *([self.attempt] if self.attempt else [])]
            served = next((v for v in others if v.key == key), self.failed.get(key.version))
        return served

    def rows(self) -> list[RepositoryEntry]:
        """Its repository index rows (see the module docstring for the precedence)."""
        attempt = self.attempt
        by_version: dict[str, RepositoryEntry] = {}
        for version, served in self.versions.items():
            row = served.index_entry()
            reload = attempt if attempt is not None and attempt.key == served.key else None
            reload = reload or self.failed.get(version)
            if reload is not None:
                reason = f"reload {reload.state.value}: {reload.reason}".rstrip(": ")
                row = replace(row, reason=reason)
            by_version[version] = row
        if self.fetching is not None and self.fetching not in by_version:
            by_version[self.fetching] = RepositoryEntry(
                self.name, self.fetching, VersionState.LOADING, "fetching"
            )
        others = [*([attempt] if attempt else []), *self.retiring, *self.failed.values()]
        for other in others:
            by_version.setdefault(other.key.version, other.index_entry())
        return list(by_version.values())
