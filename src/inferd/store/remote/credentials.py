"""Registry credentials in the Docker config format, shared with docker, podman, skopeo and oras.

``config.json`` holds ``{"auths": {"<host>": {"auth": base64("user:password")}}}``. inferd reads
entries other tools wrote and, on login, rewrites the file atomically with mode 0600, keeping
every key it does not own (``credsStore``, ``credHelpers``, other hosts) exactly as it was.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from inferd.errors import InvalidArgument
from inferd.store import atomic


@dataclass(frozen=True)
class Credentials:
    """A username and password (or token) for one registry host."""

    username: str
    password: str
    identity_token: str | None = None
    """An OAuth2 refresh token (``identitytoken``, as ``az acr login`` and other OAuth logins
    leave in the Docker config): exchanged at the token realm for access tokens, as docker does."""

    def __repr__(self) -> str:  # keep secrets out of logs and tracebacks
        token = "" if self.identity_token is None else ", identity_token='***'"
        return f"Credentials(username={self.username!r}, password='***'{token})"


def _read(config_file: Path) -> dict[str, Any]:
    try:
        data = config_file.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:  # a directory, a file where $DOCKER_CONFIG's directory goes…
        raise InvalidArgument(f"{_named(config_file)} cannot be read: {exc.strerror}") from None
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"{_named(config_file)} is not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise InvalidArgument(f"{_named(config_file)} is not a JSON object")
    return document


def _named(config_file: Path) -> str:
    # The path, not "config.json": $DOCKER_CONFIG or ~/.docker decides which one was read.
    return f"the Docker config file {str(config_file)!r}"


#: Docker Hub's names: docker keeps its login under :data:`DOCKER_HUB_KEY` whichever is used.
DOCKER_HUB = ("registry-1.docker.io", "docker.io", "index.docker.io")
DOCKER_HUB_KEY = "https://index.docker.io/v1/"


def _keys(auths: dict[str, Any], host: str) -> list[str]:
    """The keys of ``auths`` that are ``host``'s entry, the exact one first.

    docker writes Docker Hub as a URL, some tools prefix hosts with a scheme, and older docker
    logins kept what was typed (``https://registry.example.com/``, ``…/v2/``): docker matches
    a key by its host, the scheme and any path dropped (``ConvertToHostname``), and so does this.
    Docker Hub's entry is shared by its names (``docker login`` writes :data:`DOCKER_HUB_KEY`).
    """
    names = (host, *(n for n in DOCKER_HUB if n != host)) if host in DOCKER_HUB else (host,)
    exact = [key for key in (host, f"https://{host}", f"http://{host}") if key in auths]
    return exact + [key for key in auths if key not in exact and _hostname(key) in names]


def _hostname(key: str) -> str:
    for scheme in ("http://", "https://"):
        key = key.removeprefix(scheme)
    return key.split("/", 1)[0]


def lookup(config_file: Path, host: str) -> Credentials | None:
    """The stored credentials for ``host`` (``host[:port]``), or None."""
    auths = _read(config_file).get("auths")
    if not isinstance(auths, dict):
        return None
    for key in _keys(auths, host):
        entry = auths.get(key)
        if not isinstance(entry, dict):
            continue
        token = entry.get("identitytoken")
        identity = token if isinstance(token, str) and token else None
        encoded = entry.get("auth")
        if isinstance(encoded, str) and encoded:
            try:
                decoded = base64.b64decode(encoded, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise InvalidArgument(
                    f"{_named(config_file)}: auths.{key!r}.auth is not base64 of "
                    f"user:password; run `inferd login {host}` to store it again"
                ) from None
            user, sep, secret = decoded.partition(":")
            if sep:
                return Credentials(user, secret, identity)
        username, password = entry.get("username"), entry.get("password")
        if isinstance(username, str) and isinstance(password, str):
            return Credentials(username, password, identity)
        if identity is not None:
            return Credentials("", "", identity)
    return None


def _write(config_file: Path, document: dict[str, Any]) -> None:
    # Through a symlink, as docker writes it: a dotfile manager's link stays a link.
    target = config_file.resolve() if config_file.is_symlink() else config_file
    data = orjson.dumps(document, option=orjson.OPT_INDENT_2)
    try:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic.write_bytes(target, data + b"\n", mode=0o600)
    except OSError as exc:
        raise InvalidArgument(f"{_named(config_file)} cannot be written: {exc.strerror}") from None


def store(config_file: Path, host: str, credentials: Credentials) -> None:
    """Save ``credentials`` for ``host``, replacing any previous entry for it."""
    document = _read(config_file)
    auths = document.get("auths")
    if not isinstance(auths, dict):
        auths = {}
    for key in _keys(auths, host):
        del auths[key]
    secret = f"{credentials.username}:{credentials.password}".encode()
    # Docker Hub's under docker's own key, so that docker and inferd share one login.
    auths[DOCKER_HUB_KEY if host in DOCKER_HUB else host] = {
        "auth": base64.b64encode(secret).decode()
    }
    document["auths"] = auths
    _write(config_file, document)


def remove(config_file: Path, host: str) -> bool:
    """Forget the credentials of ``host``; return whether there were any."""
    document = _read(config_file)
    auths = document.get("auths")
    if not isinstance(auths, dict):
        return False
    removed = [key for key in _keys(auths, host) if auths.pop(key) is not None]
    if removed:
        _write(config_file, document)
    return bool(removed)
