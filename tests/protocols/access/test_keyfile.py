"""The keys file: created, listed and revoked atomically, private, and refused when malformed."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import orjson
import pytest

from inferd.errors import AlreadyExists, InvalidArgument, NotFound
from inferd.protocols.access.keyfile import create_key, parse_keys, read_keys, revoke_key
from inferd.protocols.access.tokens import parse_hash, verify_secret


def test_a_created_key_is_stored_hashed_in_a_private_file(tmp_path: Path) -> None:
    path = tmp_path / "home" / "keys.json"
    record, token = create_key(path, "ci", deployments=["fraud"], scopes=["infer", "read"], rps=5)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert token.secret not in text and str(token) not in text
    (stored,) = read_keys(path)
    assert stored == record
    assert stored.id == token.key_id
    assert stored.deployments == ("fraud",) and stored.scopes == ("infer", "read")
    assert stored.rps == 5.0
    assert verify_secret(token.secret, parse_hash(stored.hash))
    assert "hash" not in stored.summary()


def test_names_are_unique_and_revoke_removes_by_name_or_id(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    a, _ = create_key(path, "a")
    b, _ = create_key(path, "b")
    with pytest.raises(AlreadyExists, match="'a' exists"):
        create_key(path, "a")
    assert revoke_key(path, "a") == a
    assert revoke_key(path, b.id) == b
    assert read_keys(path) == ()
    with pytest.raises(NotFound, match="no key named 'a'"):
        revoke_key(path, "a")


def test_concurrent_creates_lose_no_key(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    threads = [threading.Thread(target=create_key, args=(path, f"k{i}")) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(k.name for k in read_keys(path)) == [f"k{i}" for i in range(6)]


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"name": "has space"}, "name"),
        ({"name": "-x"}, "name"),
        ({"name": "x", "deployments": ["Fraud"]}, "deployments"),
        ({"name": "x", "deployments": ["a b"]}, "deployments"),
        ({"name": "x", "rps": 0}, "rps"),
        ({"name": "x", "rps": -1}, "rps"),
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "x", "scopes": ["write"]}, "scopes"),
    ],
)
def test_bad_key_settings_are_refused_naming_the_field(
    tmp_path: Path, kwargs: dict[str, object], problem: str
) -> None:
    path = tmp_path / "keys.json"
    with pytest.raises(InvalidArgument, match=problem):
        create_key(path, **kwargs)  # type: ignore[arg-type]
    assert not path.exists()


def _doc(**key: object) -> bytes:
    record = {"name": "a", "id": "0123456789ab", "hash": _HASH, **key}
    return orjson.dumps({"version": 1, "keys": [record]})


_HASH = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$" + "A" * 43 + "="


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"{", "not JSON"),
        (b"[]", r'must hold a JSON object \{"version": 1, "keys": \[\.\.\.\]\}, not a list'),
        (b"null", "not null"),
        (orjson.dumps({"version": 2, "keys": []}), "version"),
        (orjson.dumps({"version": 1, "keys": [], "extra": 1}), "extra"),
        (_doc(id="XYZ"), "keys.0.id"),
        (_doc(hash="plain"), "keys.0.hash"),
        (_doc(deployments=[]), "keys.0.deployments"),
        (_doc(rps="fast"), "keys.0.rps"),
        (orjson.dumps({"version": 1, "keys": [orjson.loads(_doc())["keys"][0]] * 2}), "two keys"),
    ],
)
def test_a_malformed_file_is_refused_naming_the_problem(data: bytes, problem: str) -> None:
    with pytest.raises(InvalidArgument, match=problem) as caught:
        parse_keys(data, "keys.json")
    assert caught.value.message.startswith("keys file keys.json:")
    assert ": :" not in caught.value.message and "KeysDocument" not in caught.value.message


def test_a_missing_file_holds_no_keys(tmp_path: Path) -> None:
    assert read_keys(tmp_path / "none.json") == ()


def test_a_keys_file_that_is_a_link_is_not_edited(tmp_path: Path) -> None:
    """A revoke through a symbolic link replaced the link with a file of its own and left the
    file it pointed to, which a server may be watching, accepting the revoked key."""
    real = tmp_path / "etc" / "keys.json"
    real.parent.mkdir()
    create_key(real, "app")
    link = tmp_path / "keys.json"
    link.symlink_to(real)
    before = real.read_bytes()
    for edit in (lambda: revoke_key(link, "app"), lambda: create_key(link, "other")):
        with pytest.raises(InvalidArgument) as caught:
            edit()
        assert caught.value.message == (
            f"keys file {link} is a symbolic link to {real}: edit that file (--keys-file {real})"
        )
        assert link.is_symlink() and real.read_bytes() == before
    assert [k.name for k in read_keys(link)] == ["app"]  # reading through it is fine
