"""Code trust: whose own code the operator allowed to run, and the record of every grant.

The operator names what to trust with references (``inferd serve --trust-code``, repeatable;
``trust_code: true`` on a version in ``inferd.yaml`` passes the version's pinned reference):

    fraud-rules                     every version of fraud-rules
    fraud-rules:v1                  the version served as fraud-rules:v1 (whatever it points at)
    fraud-rules@sha256:…            exactly those bytes, whatever tag they are served as
    fraud-rules:v1@sha256:…         both

A version matches when the name (and registry) agree and every part the pattern gives agrees
with the reference it is served from and its digest. Each load of a matching version first
appends a ``trust`` event (name, tag, digest, user, host, time) to the store history, and only
then loads with ``trust_code`` on; the python runtime still runs the code only in its sandbox.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from inferd.errors import InvalidArgument, InvalidReference
from inferd.reference import split_registry
from inferd.runtimes.base import LoadOptions
from inferd.serving.artifact import LoadedArtifact
from inferd.store import ModelStore, Reference
from inferd.store import history as store_history

Recorder = Callable[[LoadedArtifact], None]


@dataclass(frozen=True, slots=True)
class TrustPattern:
    """One ``--trust-code`` value; ``tag`` None matches any tag, ``digest`` None any digest."""

    name: str
    registry: str | None
    tag: str | None
    digest: str | None

    @classmethod
    def parse(cls, text: str) -> TrustPattern:
        try:
            ref = Reference.parse(text)
        except InvalidReference as exc:
            raise InvalidArgument(f"--trust-code {text!r}: {exc.message}") from None
        # ``name`` alone parses as ``name:latest``; here it means every tag.
        tagged = ":" in split_registry(text.partition("@")[0])[1]
        return cls(ref.name, ref.registry, ref.tag if tagged else None, ref.digest)

    def matches(self, reference: str, digest: str) -> bool:
        ref = Reference.parse(reference)
        return (
            (ref.name, ref.registry) == (self.name, self.registry)
            and self.tag in (None, ref.tag)
            and self.digest in (None, digest)
        )


@dataclass(frozen=True, slots=True)
class CodeTrust:
    """The trust patterns of one server and how a grant is recorded (nothing is trusted by
    default)."""

    patterns: tuple[TrustPattern, ...] = ()
    record: Recorder | None = None

    @classmethod
    def of(cls, patterns: Sequence[str], record: Recorder) -> CodeTrust:
        return cls(tuple(TrustPattern.parse(p) for p in patterns), record)

    def trusts(self, artifact: LoadedArtifact) -> bool:
        return any(p.matches(artifact.reference, artifact.digest) for p in self.patterns)

    def options(self, artifact: LoadedArtifact, options: LoadOptions) -> LoadOptions:
        """``options`` for loading ``artifact``: with ``trust_code`` on, once recorded, when a
        pattern matches. Blocking I/O (the history append): call it off the event loop."""
        if not self.trusts(artifact):
            return options
        if self.record is not None:
            self.record(artifact)
        return dataclasses.replace(options, trust_code=True)


def history_recorder(store: ModelStore) -> Recorder:
    """Record grants as ``trust`` events in ``store``'s history (under the store lock)."""

    def record(artifact: LoadedArtifact) -> None:
        tag = Reference.parse(artifact.reference).tag or ""
        entry = store_history.event(artifact.key.name, tag, "trust", None, artifact.digest)
        with store.layout.locked():
            store_history.append(store.layout.history_file, entry)

    return record
