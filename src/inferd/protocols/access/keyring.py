"""The keys a running server checks, kept in step with the keys file without a restart.

Policy, in the order a request meets it (:meth:`KeyRing.authorize`):

1. **Enforcing or not.** A ring built with ``required`` (the operator named the file) enforces
   from the start, and a missing or invalid file then fails the start. A ring on a default file
   (``inferd up``'s ``$INFERD_HOME/keys.json``) enforces once the file exists, whether or not
   it parses (until it does, no key is valid). Once enforcing,
   a ring never opens again: a file that disappears leaves no valid key (every request 401),
   and a file that no longer parses keeps the last keys that did (logged). Never silently open
   after keys were configured.
2. **Reload.** The file's identity (inode, size, mtime) is looked at, at most every
   ``check_interval_s`` and only when a request comes, so a created or revoked key takes effect
   within that interval plus one request; idle servers do no I/O.
3. **Credentials.** ``Authorization: Bearer <token>``, or ``Basic`` with the token as the
   password (or as the user name when the password is empty), which is what a browser sends for
   the dashboard. Anything else, or nothing, is 401.
4. **The key.** The token names its key id; an unknown id is refused without hashing. A token
   seen before is recognised by its SHA-256 (kept in memory only, and only for the stored hash
   it was verified against, so a revoked or re-created key is never accepted from the cache).
   A new one is checked with scrypt in a worker thread, at most :data:`CHECKS_AT_ONCE` at a
   time and once for concurrent requests with the same token, at most
   :data:`MAX_WAITING_CHECKS` waiting, :data:`CHECKS_PER_KEY` of them for one key (else 503);
   a wrong one is remembered as wrong until the file changes.
5. **Scope.** The key must hold the scope the route needs, and the deployment it names (or,
   for routes that list every deployment, all of them): else 403.
6. **Rate.** A key with ``rps`` draws one token from its bucket (:mod:`.buckets`) per request;
   an empty bucket is 429 with the seconds until the next token. Buckets survive reloads while
   the key's rate is unchanged.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from inferd.errors import (
    InvalidArgument,
    PermissionDenied,
    RateLimited,
    Unauthenticated,
    Unavailable,
)
from inferd.protocols.access.buckets import TokenBucket
from inferd.protocols.access.keyfile import (
    KeyRecord,
    LooseKeysFile,
    Scope,
    check_modes,
    parse_keys,
)
from inferd.protocols.access.tokens import StoredHash, Token, parse_hash, parse_token, verify_secret

log = logging.getLogger(__name__)

#: How often, at most, the keys file is looked at.
CHECK_INTERVAL_S = 0.5
#: scrypt checks running at once (each takes one core for about 50 ms).
CHECKS_AT_ONCE = 2
#: Checks waiting beyond this are refused with 503 (a flood of never-seen tokens).
MAX_WAITING_CHECKS = 64
#: Checks of one key's tokens waiting beyond this are refused with 503: a key has one right
#: secret, so many different tokens of it at once are guesses (its id is the token's start),
#: which then hold up no other key's first check.
CHECKS_PER_KEY = 4
#: Wrong tokens remembered (cleared when the file changes).
MAX_REFUSED = 4096


class NoKey(Unauthenticated):
    """No credentials at all (as opposed to wrong ones)."""


#: What a request with no credentials is told.
NO_KEY = "this endpoint requires an API key: 'Authorization: Bearer inferd_…'"
_NOT_A_KEY = "the Authorization header holds no inferd API key (expected 'Bearer inferd_…')"
_INVALID = "the API key is not valid (revoked, or never issued)"


@dataclass(frozen=True, slots=True)
class Need:
    """What a request needs of a key: ``scope`` (None: any valid key), and the deployment it
    names (None: it names none); ``every_deployment`` for routes that list all deployments."""

    scope: Scope | None
    deployment: str | None = None
    every_deployment: bool = False


_Identity = tuple[int, int, int]


class KeyRing:
    """The keys of one keys file, as of the last look (see the module docstring)."""

    def __init__(
        self,
        path: Path,
        *,
        required: bool,
        clock: Callable[[], float] = time.monotonic,
        check_interval_s: float = CHECK_INTERVAL_S,
    ) -> None:
        self.path = path
        self._clock = clock
        self._interval = check_interval_s
        self._next_look = 0.0
        self._identity: _Identity | None = None
        self._enforcing = False
        self._by_id: dict[str, KeyRecord] = {}
        self._hashes: dict[str, StoredHash] = {}
        self._buckets: dict[str, TokenBucket] = {}
        #: SHA-256 of a verified token → (key id, the stored hash it was verified against).
        self._verified: dict[bytes, tuple[str, str]] = {}
        self._refused: dict[bytes, None] = {}
        self._checking: dict[bytes, asyncio.Future[bool]] = {}
        self._waiting = 0
        #: Checks waiting or running, per key id.
        self._waiting_for: dict[str, int] = {}
        self._slots: asyncio.Semaphore | None = None
        if required:
            identity = self._stat()
            if identity is None:
                raise InvalidArgument(
                    f"keys file {path} does not exist; create a key with "
                    f"`inferd keys create NAME --keys-file {path}`"
                )
            self._load(identity, at_start=True)
        else:
            self.refresh(at_start=True)

    @property
    def enforcing(self) -> bool:
        """Whether requests need a key (after looking at the file if it is time)."""
        self.refresh()
        return self._enforcing

    @property
    def keys(self) -> list[KeyRecord]:
        """The keys in force."""
        return list(self._by_id.values())

    def refresh(self, *, at_start: bool = False) -> None:
        """Reload the file if it is time to look and it changed (``at_start``: the first look,
        where a file found is not news)."""
        now = self._clock()
        if now < self._next_look:
            return
        self._next_look = now + self._interval
        try:
            identity = self._stat()
        except InvalidArgument as exc:  # something is there that cannot be read: fail closed
            if not self._enforcing:
                self._install(())
            log.error("%s; the keys loaded before stay in force", exc.message)
            return
        if identity == self._identity:
            return
        if identity is None:
            if self._enforcing:
                log.warning("keys file %s is gone: no API key is valid now", self.path)
            self._identity = None
            self._install(())
            return
        try:
            self._load(identity, at_start=at_start)
        except InvalidArgument as exc:
            self._identity = identity  # logged once per version of the file
            if self._enforcing:
                log.error("%s; the keys loaded before stay in force", exc.message)
            else:  # it exists: keys are required from now on, and none is valid yet
                self._install(())
                if isinstance(exc, LooseKeysFile):
                    log.error("%s; no API key is valid until then", exc.message)
                else:
                    log.error(
                        "%s; the file does not parse: no API key is valid until it does",
                        exc.message,
                    )

    def _stat(self) -> _Identity | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise InvalidArgument(f"cannot read keys file {self.path}: {exc.strerror}") from None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _load(self, identity: _Identity, *, at_start: bool) -> None:
        check_modes(self.path)
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise InvalidArgument(f"cannot read keys file {self.path}: {exc.strerror}") from None
        records = parse_keys(data, str(self.path))
        if not self._enforcing and not at_start:
            log.warning("keys file %s appeared: the data plane requires API keys now", self.path)
        self._identity = identity
        self._install(records)

    def _install(self, records: tuple[KeyRecord, ...]) -> None:
        self._enforcing = True
        now = self._clock()
        old_buckets = self._buckets
        self._by_id = {r.id: r for r in records}
        self._hashes = {r.id: parse_hash(r.hash) for r in records}
        self._buckets = {}
        for r in records:
            if r.rps is None:
                continue
            kept = old_buckets.get(r.id)
            self._buckets[r.id] = kept if kept and kept.rate == r.rps else TokenBucket(r.rps, now)
        self._refused.clear()
        self._verified = {
            digest: seen
            for digest, seen in self._verified.items()
            if (kept_key := self._by_id.get(seen[0])) is not None and kept_key.hash == seen[1]
        }

    async def authorize(self, credentials: str | None, need: Need) -> KeyRecord | None:
        """The key that admits a request with ``credentials`` (an ``Authorization`` value) for
        ``need``; None when keys are not enforced. Raises NoKey or Unauthenticated (401),
        PermissionDenied (403), RateLimited (429) or Unavailable (503, checks backed up)."""
        if not self.enforcing:
            return None
        if not credentials:
            raise NoKey(NO_KEY)
        token = _token_of(credentials)
        if token is None:
            raise Unauthenticated(_NOT_A_KEY)
        record = await self._verify(token)
        check_scope(record, need)
        bucket = self._buckets.get(record.id)
        if bucket is not None:
            wait = bucket.take(self._clock())
            if wait:
                raise RateLimited(
                    f"API key {record.name!r} is limited to {record.rps:g} requests/s",
                    retry_after=max(1.0, math.ceil(wait)),
                )
        return record

    def refusal_at_sight(self, credentials: str | None) -> Unauthenticated | None:
        """The 401 :meth:`authorize` would raise for ``credentials`` where no hashing is needed
        to know it: none, not an inferd token, an unknown key id, or a token already found
        wrong. None: they need checking (or keys are not enforced). For a request's head,
        before its body is read."""
        if not self.enforcing:
            return None
        if not credentials:
            return NoKey(NO_KEY)
        token = _token_of(credentials)
        if token is None:
            return Unauthenticated(_NOT_A_KEY)
        if token.key_id not in self._by_id or _digest(token) in self._refused:
            return Unauthenticated(_INVALID)
        return None

    def known(self, credentials: str | None) -> KeyRecord | None:
        """The key of ``credentials`` if it has been verified already (no hashing, nothing
        taken from its rate), for judging a request's head before its body is read; else
        None (not enforced, no key, or one that still needs checking)."""
        token = _token_of(credentials) if self.enforcing and credentials else None
        record = self._by_id.get(token.key_id) if token is not None else None
        if token is None or record is None:
            return None
        seen = self._verified.get(_digest(token))
        return record if seen == (record.id, record.hash) else None

    async def _verify(self, token: Token) -> KeyRecord:
        record = self._by_id.get(token.key_id)
        invalid = Unauthenticated(_INVALID)
        if record is None:
            raise invalid
        digest = _digest(token)
        seen = self._verified.get(digest)
        if seen is not None and seen == (record.id, record.hash):
            return record
        if digest in self._refused:
            raise invalid
        stored = record.hash
        if not await self._check_once(digest, token, self._hashes[record.id]):
            if len(self._refused) >= MAX_REFUSED:
                self._refused.pop(next(iter(self._refused)))
            self._refused[digest] = None
            raise invalid
        current = self._by_id.get(token.key_id)
        if current is None or current.hash != stored:  # revoked while it was being checked
            raise invalid
        self._verified[digest] = (current.id, current.hash)
        return current

    async def _check_once(self, digest: bytes, token: Token, stored: StoredHash) -> bool:
        """scrypt in a thread, shared by concurrent requests presenting the same token. The
        check is a task of its own, so a client that goes away does not fail the others."""
        check = self._checking.get(digest)
        if check is None:
            if self._waiting >= MAX_WAITING_CHECKS:
                raise Unavailable("too many new API keys are being checked at once; retry shortly")
            key_id = token.key_id
            if self._waiting_for.get(key_id, 0) >= CHECKS_PER_KEY:
                raise Unavailable(
                    f"too many different tokens of API key id {key_id} are being checked at "
                    "once; retry shortly"
                )
            self._waiting += 1
            self._waiting_for[key_id] = self._waiting_for.get(key_id, 0) + 1
            scrypt = self._scrypt(token.secret, key_id, stored)
            check = asyncio.get_running_loop().create_task(scrypt)
            self._checking[digest] = check
            check.add_done_callback(lambda _: self._checking.pop(digest, None))
        return await asyncio.shield(check)

    async def _scrypt(self, secret: str, key_id: str, stored: StoredHash) -> bool:
        if self._slots is None:
            self._slots = asyncio.Semaphore(CHECKS_AT_ONCE)
        try:
            async with self._slots:
                return await asyncio.to_thread(verify_secret, secret, stored)
        finally:
            self._waiting -= 1
            left = self._waiting_for.pop(key_id) - 1
            if left:
                self._waiting_for[key_id] = left


def _digest(token: Token) -> bytes:
    return hashlib.sha256(str(token).encode("ascii")).digest()


def _token_of(credentials: str) -> Token | None:
    scheme, _, value = credentials.strip().partition(" ")
    value = value.strip()
    scheme = scheme.lower()
    if scheme == "bearer":
        return parse_token(value)
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except ValueError:  # not base64 (binascii.Error), not ASCII, not UTF-8
            return None
        user, _, password = decoded.partition(":")
        return parse_token(password or user)
    return None


def check_scope(record: KeyRecord, need: Need) -> None:
    """Raise the PermissionDenied of ``record`` for what ``need`` asks of a key."""
    if need.scope is not None and need.scope not in record.scopes:
        raise PermissionDenied(
            f"API key {record.name!r} lacks the {need.scope!r} scope this endpoint needs "
            f"(it has {', '.join(record.scopes)})"
        )
    allowed = record.deployments
    if allowed is None:
        return
    if need.every_deployment:
        raise PermissionDenied(
            f"API key {record.name!r} is limited to {', '.join(allowed)}; this endpoint "
            "covers every deployment"
        )
    if need.deployment is not None and need.deployment not in allowed:
        raise PermissionDenied(
            f"API key {record.name!r} may not use {need.deployment!r} "
            f"(it may use {', '.join(allowed)})"
        )
