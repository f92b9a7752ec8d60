"""The control token file: private, one per server, never written through a planted link."""

from __future__ import annotations

import os
from pathlib import Path

from inferd.protocols.v2.auth import token_file, write_token


def test_each_server_has_its_own_private_token_file(tmp_path: Path) -> None:
    first = write_token(tmp_path, 8082, "one")
    second = write_token(tmp_path, 9082, "two")
    assert first != second
    assert first == token_file(tmp_path, 8082)
    assert first.read_text() == "one\n"
    assert second.read_text() == "two\n"
    assert first.stat().st_mode & 0o777 == 0o600
    # nothing else is left beside them (no predictable temporary file)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["server-8082.token", "server-9082.token"]


def test_a_planted_symlink_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    token_file(tmp_path, 8082).symlink_to(victim)
    # the old predictable temporary name, planted too: it is neither used nor followed
    (tmp_path / f".server-8082.token.{os.getpid()}").symlink_to(victim)
    path = write_token(tmp_path, 8082, "secret")
    assert victim.read_text() == "precious\n"
    assert not path.is_symlink()
    assert path.read_text() == "secret\n"
