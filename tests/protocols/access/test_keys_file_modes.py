"""A keys file that someone besides its owner can write is refused: whoever can write it can add
a key of their own (a scrypt hash they made) and reach every deployment. ``inferd keys`` writes
the file 0600; a copy, an editor or a shared directory can loosen it (OpenSSH refuses such an
``authorized_keys`` the same way)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from inferd.errors import InvalidArgument, Unauthenticated
from inferd.protocols.access.keyfile import create_key, read_keys
from inferd.protocols.access.keyring import KeyRing, Need


def _authorize(keys: KeyRing, token: str) -> object:
    return asyncio.run(keys.authorize(f"Bearer {token}", Need("infer", "fraud")))


def test_a_keys_file_writable_by_others_fails_the_start_naming_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    create_key(path, "ci")
    path.chmod(0o666)
    with pytest.raises(InvalidArgument) as refused:
        KeyRing(path, required=True)
    message = refused.value.message
    assert f"keys file {path} is writable by group or others (mode 0666)" in message
    assert f"chmod 600 {path}" in message
    path.chmod(0o620)  # group-writable too
    with pytest.raises(InvalidArgument, match=r"\(mode 0620\)"):
        KeyRing(path, required=True)
    path.chmod(0o644)  # readable by others (a Kubernetes secret's default) is not writable
    assert KeyRing(path, required=True).enforcing


def test_a_directory_anyone_can_write_is_refused_unless_sticky(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    path = shared / "keys.json"
    create_key(path, "ci")
    shared.chmod(0o777)
    with pytest.raises(InvalidArgument) as refused:
        KeyRing(path, required=True)
    assert f"its directory {shared} is writable by group or others (mode 0777)" in (
        refused.value.message
    )
    assert f"chmod go-w {shared}" in refused.value.message
    shared.chmod(0o1777)  # sticky, as /tmp: others cannot replace a file they do not own
    assert KeyRing(path, required=True).enforcing


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_the_owner_is_not_looked_at(tmp_path: Path) -> None:
    """A file bind-mounted into a container keeps its owner on the host (uid 1000, the server
    root): still the administrator's file, and 0600."""
    path = tmp_path / "keys.json"
    create_key(path, "ci")
    os.chown(path, 1000, -1)
    assert KeyRing(path, required=True).enforcing


def test_a_running_server_keeps_its_keys_when_the_file_is_rewritten_loosely(
    tmp_path: Path,
) -> None:
    path = tmp_path / "keys.json"
    _, good = create_key(path, "ci")
    keys = KeyRing(path, required=True, check_interval_s=0.0)
    assert _authorize(keys, str(good)) is not None
    # Someone else adds a key of their own to a file they can write.
    path.chmod(0o666)
    _, planted = create_key(path, "intruder")
    path.chmod(0o666)  # the edit rewrites the file 0600; the intruder's own write would not
    assert {k.name for k in read_keys(path)} == {"ci", "intruder"}
    with pytest.raises(Unauthenticated):
        _authorize(keys, str(planted))
    assert _authorize(keys, str(good)) is not None  # the keys loaded before stay in force


def test_a_loose_default_file_requires_keys_and_admits_none(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``inferd up``'s default ``$INFERD_HOME/keys.json``: there, keys are required (never
    open), no key is valid, and the log says why and what to run."""
    path = tmp_path / "keys.json"
    _, token = create_key(path, "ci")
    path.chmod(0o646)
    keys = KeyRing(path, required=False)
    assert keys.enforcing
    with pytest.raises(Unauthenticated):
        _authorize(keys, str(token))
    assert "writable by group or others (mode 0646): whoever can write it" in caplog.text
    assert f"run `chmod 600 {path}`; no API key is valid until then" in caplog.text


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_a_file_of_another_user_in_a_sticky_shared_directory_is_refused(tmp_path: Path) -> None:
    """``--keys-file /tmp/keys.json``: the sticky bit keeps others from replacing a file they
    do not own, but whoever created the file (or a symbolic link there) before the operator
    owns it and may rewrite it, or point the link elsewhere, at any time."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    path = shared / "keys.json"
    create_key(path, "planted")
    os.chown(path, 1000, 1000)  # another local user's, mode 0600
    with pytest.raises(InvalidArgument) as refused:
        KeyRing(path, required=True)
    message = refused.value.message
    assert f"keys file {path} is owned by uid 1000, not by this server's user" in message
    assert f"{shared} lets others create files" in message
    mine = tmp_path / "mine.json"
    create_key(mine, "ci")
    link = shared / "link.json"
    link.symlink_to(mine)
    os.lchown(link, 1000, 1000)  # a link another user placed, to a file of the operator's
    with pytest.raises(InvalidArgument, match="is owned by uid 1000"):
        KeyRing(link, required=True)
    os.chown(path, 0, 0)  # the server's own file there is fine (root's, here)
    assert KeyRing(path, required=True).enforcing


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_inferd_keys_does_not_carry_a_planted_file_s_keys_over(tmp_path: Path) -> None:
    """``inferd keys create --keys-file /tmp/keys.json`` over a file another user planted there
    would write the planted keys into a file of the operator's, which servers then accept."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    path = shared / "keys.json"
    create_key(path, "planted")
    os.chown(path, 1000, 1000)
    with pytest.raises(InvalidArgument, match="is owned by uid 1000"):
        create_key(path, "ci")
    assert [k.name for k in read_keys(path)] == ["planted"]
