"""API key tokens: their shape, and how their secrets are stored (hashed) and checked.

A token is ``inferd_<id>_<secret>``: ``id`` is 12 lower-case hex digits that name the key in the
keys file (so a server finds the one record to check without hashing every key), ``secret`` is
32 random bytes in URL-safe base64 (43 characters). The prefix makes a leaked token easy to
recognise (secret scanners, logs).

Only a hash of the secret is stored: scrypt (RFC 7914) with a random 16-byte salt per key, as
``scrypt$<n>$<r>$<p>$<salt>$<hash>`` (base64). The secret is 256 random bits, so no guessing
attack needs a slow hash; scrypt keeps a stolen keys file from being usable even as a lookup
table. Checking costs about 50 ms of CPU (n = 2^14), so servers check a token once and
remember it (:mod:`inferd.protocols.access.keyring`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

PREFIX = "inferd_"
#: ``inferd_`` + 12 hex digits + ``_`` + 43 URL-safe base64 characters.
_TOKEN = re.compile(r"inferd_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
ID_PATTERN = r"^[0-9a-f]{12}$"

#: scrypt's cost: 2^14 iterations of 8 blocks (16 MiB of memory), one lane.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
_SALT_BYTES = 16
_HASH_BYTES = 32
#: Enough for the parameters this module writes; a file asking for more is refused.
_MAX_MEMORY = 64 * 1024**2


@dataclass(frozen=True, slots=True)
class Token:
    """A presented token, split into the key id and the secret."""

    key_id: str
    secret: str

    def __str__(self) -> str:
        return f"{PREFIX}{self.key_id}_{self.secret}"


def new_token() -> Token:
    """A fresh random token."""
    return Token(secrets.token_hex(6), secrets.token_urlsafe(32))


def parse_token(text: str) -> Token | None:
    """The token ``text`` holds, or None when it does not have a token's shape."""
    match = _TOKEN.fullmatch(text)
    return Token(match.group(1), match.group(2)) if match else None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_secret(secret: str) -> str:
    """The stored form of ``secret``: a fresh salt and its scrypt hash."""
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(secret, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


@dataclass(frozen=True, slots=True)
class StoredHash:
    """A parsed ``scrypt$…`` string."""

    n: int
    r: int
    p: int
    salt: bytes
    digest: bytes


def parse_hash(text: str) -> StoredHash:
    """Parse a stored hash; raises ValueError naming what is wrong with it."""
    parts = text.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ValueError("not a scrypt$N$r$p$salt$hash string")
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4], validate=True)
        digest = base64.b64decode(parts[5], validate=True)
    except (ValueError, binascii.Error):
        raise ValueError("its parameters or base64 do not parse") from None
    if n < 2 or n & (n - 1) or r < 1 or p < 1 or 128 * r * (n + p + 2) > _MAX_MEMORY:
        raise ValueError(f"scrypt parameters n={n} r={r} p={p} are out of range")
    if len(salt) < 8 or len(digest) < 16:
        raise ValueError("its salt or hash is too short")
    return StoredHash(n, r, p, salt, digest)


def verify_secret(secret: str, stored: StoredHash) -> bool:
    """Whether ``secret`` hashes to ``stored`` (compared in constant time). Slow: scrypt."""
    digest = _scrypt(secret, stored.salt, stored.n, stored.r, stored.p, size=len(stored.digest))
    return hmac.compare_digest(digest, stored.digest)


def _scrypt(secret: str, salt: bytes, n: int, r: int, p: int, *, size: int = _HASH_BYTES) -> bytes:
    return hashlib.scrypt(
        secret.encode("ascii"), salt=salt, n=n, r=r, p=p, maxmem=_MAX_MEMORY, dklen=size
    )
