"""The keys file: every API key's name, id, hashed secret, scope and rate, as JSON.

::

    {"version": 1, "keys": [{"name": "ci", "id": "3f9a1c2b7d4e", "hash": "scrypt$16384$8$1$…",
      "deployments": ["fraud"], "scopes": ["infer"], "rps": 20.0,
      "created": "2026-12-05T10:00:00+00:00"}]}

``deployments`` null means every deployment (under ``inferd serve``, every model name). The
file is only ever replaced whole: written under an unpredictable temporary name created with
``O_EXCL`` (mode 0600), synced, and renamed into place, so a server reading it sees the old
file or the new one, never half of one, and a revocation survives a crash. Edits
(:func:`create_key`, :func:`revoke_key`) hold an exclusive lock on ``<file>.lock`` while they
read, change and write, so two ``inferd keys`` commands at once never lose each other's key.
A file that is a symbolic link is neither followed nor replaced: the edit is refused (the
rename would replace the link, leaving the file it points to as it was).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import tempfile
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from inferd.errors import AlreadyExists, InvalidArgument, NotFound
from inferd.protocols.access.tokens import ID_PATTERN, Token, hash_secret, new_token, parse_hash
from inferd.reference import MAX_NAME_LENGTH, NAME_RE

#: What a key may do: ``infer`` reaches models (every data-plane route but health);
#: ``read`` reads ``/metrics`` and the gateway's dashboard and ``/api/*``.
Scope = Literal["infer", "read"]
SCOPES: tuple[Scope, ...] = ("infer", "read")
FILE_NAME = "keys.json"
VERSION = 1

KeyName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")]
Deployment = Annotated[str, Field(pattern=f"^{NAME_RE.pattern}$", max_length=MAX_NAME_LENGTH)]


class KeyRecord(BaseModel):
    """One key as the file holds it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: KeyName
    id: str = Field(pattern=ID_PATTERN)
    hash: str
    deployments: tuple[Deployment, ...] | None = None
    scopes: tuple[Scope, ...] = ("infer",)
    rps: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    created: str = ""

    @field_validator("hash")
    @classmethod
    def _hash_parses(cls, value: str) -> str:
        parse_hash(value)
        return value

    @field_validator("deployments", "scopes")
    @classmethod
    def _not_empty(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and not value:
            raise ValueError("is empty: name at least one (deployments: null means all)")
        return value

    def summary(self) -> dict[str, object]:
        """What ``inferd keys list`` shows: everything but the hash."""
        return self.model_dump(exclude={"hash"})


class KeysDocument(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1]
    keys: tuple[KeyRecord, ...] = ()


#: How a keys file's top-level JSON value that is not an object is named.
_JSON_NAMES = {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}


def default_keys_file(home: Path) -> Path:
    """The keys file of an ``$INFERD_HOME``."""
    return home / FILE_NAME


def parse_keys(data: bytes, source: str) -> tuple[KeyRecord, ...]:
    """The keys in a file's bytes; raises InvalidArgument naming ``source`` and the problem."""
    try:
        loaded = orjson.loads(data)
        if not isinstance(loaded, dict):
            what = "null" if loaded is None else f"a {_JSON_NAMES.get(type(loaded), 'value')}"
            raise InvalidArgument(
                f'keys file {source}: must hold a JSON object {{"version": 1, "keys": [...]}}, '
                f"not {what} (inferd keys create writes one)"
            )
        document = KeysDocument.model_validate(loaded)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"keys file {source}: not JSON ({exc})") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise InvalidArgument(f"keys file {source}: {problems}") from None
    for field in ("name", "id"):
        seen: set[str] = set()
        for record in document.keys:
            value = getattr(record, field)
            if value in seen:
                raise InvalidArgument(f"keys file {source}: two keys have the {field} {value!r}")
            seen.add(value)
    return document.keys


class LooseKeysFile(InvalidArgument):
    """A keys file that someone besides its owner could rewrite (:func:`check_modes`)."""


def check_modes(path: Path) -> None:
    """Refuse (LooseKeysFile) a keys file that someone besides its owner could rewrite: one
    writable by group or others, or in a directory they may write (unless sticky, as ``/tmp``),
    since whoever writes it can add a key of their own, and one owned by another user in a
    sticky directory others write (``/tmp``). Its owner is not looked at elsewhere: a file
    bind-mounted into a container keeps its owner on the host. A read-only filesystem (a
    Kubernetes secret) is not checked; a file that cannot be looked at is left to the read
    that follows."""
    try:
        if os.statvfs(path).f_flag & os.ST_RDONLY:
            return
        file, directory = path.stat(), path.resolve().parent
        folder = directory.stat()
    except OSError:
        return
    _check_owner(path)
    if file.st_mode & 0o022:
        problem = f"is writable by group or others (mode {stat.S_IMODE(file.st_mode):04o})"
        fix = f"chmod 600 {path}"
    elif folder.st_mode & 0o022 and not folder.st_mode & stat.S_ISVTX:
        mode = stat.S_IMODE(folder.st_mode)
        problem = f"can be replaced: its directory {directory} is writable by group or others "
        problem += f"(mode {mode:04o})"
        fix = f"chmod go-w {directory}"
    else:
        return
    raise LooseKeysFile(
        f"keys file {path} {problem}: whoever can write it can add an API key of their own; "
        f"run `{fix}`"
    )


def _check_owner(path: Path) -> None:
    """Refuse (LooseKeysFile) a keys file, or a link to one, owned by another user than this
    process's (or root) in a sticky directory others may write (``/tmp``): whoever created it
    there before the operator did may rewrite it, or point the link elsewhere, at any time."""
    try:
        named, file = path.lstat(), path.stat()
        entries = [(named, path.parent), (file, path.resolve().parent)]
        holders = [place.stat() for _, place in entries]
    except OSError:
        return
    for (entry, place), holder in zip(entries, holders, strict=True):
        shared = holder.st_mode & 0o022 and holder.st_mode & stat.S_ISVTX
        if shared and entry.st_uid not in (os.geteuid(), 0):
            raise LooseKeysFile(
                f"keys file {path} is owned by uid {entry.st_uid}, not by this server's user, "
                f"and {place} lets others create files "
                f"(mode {stat.S_IMODE(holder.st_mode):04o}): its owner can rewrite it and add "
                "an API key of their own; keep the keys file in a directory only its owner "
                "may write"
            )


def read_keys(path: Path) -> tuple[KeyRecord, ...]:
    """The keys in ``path``; none when it does not exist."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return ()
    except OSError as exc:
        raise InvalidArgument(f"cannot read keys file {path}: {exc.strerror}") from None
    return parse_keys(data, str(path))


def _write(path: Path, keys: Sequence[KeyRecord]) -> None:
    document = KeysDocument(version=VERSION, keys=tuple(keys))
    data = orjson.dumps(document.model_dump(), option=orjson.OPT_INDENT_2) + b"\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    lock = path.with_name(path.name + ".lock")
    what = f"its directory {path.parent}"
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        what = f"its lock file {lock} beside it"
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise InvalidArgument(
            f"keys file {path}: cannot create {what} ({exc.strerror}); "
            "choose a keys file in a directory you can write (--keys-file)"
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if path.is_symlink():
            # Replacing the link would leave the file it points to, which a server may watch,
            # unchanged: a revoked key would stay valid there.
            target = path.resolve()
            raise InvalidArgument(
                f"keys file {path} is a symbolic link to {target}: edit that file "
                f"(--keys-file {target})"
            )
        _check_owner(path)  # its keys would be carried into the file this edit writes
        yield
    finally:
        os.close(fd)


def create_key(
    path: Path,
    name: str,
    *,
    deployments: Sequence[str] | None = None,
    scopes: Sequence[Scope] = ("infer",),
    rps: float | None = None,
) -> tuple[KeyRecord, Token]:
    """Add a key named ``name`` to ``path`` (created if missing); returns it and its token, the
    only time the secret exists outside the client that keeps it."""
    token = new_token()
    try:
        record = KeyRecord(
            name=name,
            id=token.key_id,
            hash=hash_secret(token.secret),
            deployments=tuple(dict.fromkeys(deployments)) if deployments else None,
            scopes=tuple(dict.fromkeys(scopes)),
            rps=rps,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InvalidArgument(f"{err['loc'][0]}: {err['msg']}") from None
    with _locked(path):
        keys = read_keys(path)
        if any(k.name == name for k in keys):
            raise AlreadyExists(f"a key named {name!r} exists in {path}; revoke it first")
        _write(path, [*keys, record])
    return record, token


def revoke_key(path: Path, name: str) -> KeyRecord:
    """Remove the key named ``name`` (or with that id) from ``path``; returns what was removed."""
    with _locked(path):
        keys = read_keys(path)
        gone = next((k for k in keys if name in (k.name, k.id)), None)
        if gone is None:
            raise NotFound(f"no key named {name!r} in {path}")
        _write(path, [k for k in keys if k is not gone])
    return gone
