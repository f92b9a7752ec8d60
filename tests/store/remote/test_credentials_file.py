"""A Docker config file inferd cannot read: the error names the file (``$DOCKER_CONFIG`` or
``~/.docker``, whichever was used) and where it is wrong, never only "config.json"."""

from __future__ import annotations

from pathlib import Path

import pytest

from inferd.errors import InvalidArgument
from inferd.store.remote import credentials


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("{not json", "is not valid JSON (unexpected character"),
        ("[]", "is not a JSON object"),
    ],
)
def test_an_unreadable_config_file_is_named(tmp_path: Path, content: str, why: str) -> None:
    config = tmp_path / "docker" / "config.json"
    config.parent.mkdir()
    config.write_text(content)
    with pytest.raises(InvalidArgument) as info:
        credentials.lookup(config, "registry.example.com")
    assert info.value.message.startswith(f"the Docker config file '{config}' {why}")


def test_an_entry_that_is_not_base64_is_named_with_its_file(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text('{"auths": {"registry.example.com": {"auth": "!!!"}}}')
    with pytest.raises(InvalidArgument) as info:
        credentials.lookup(config, "registry.example.com")
    assert info.value.message == (
        f"the Docker config file '{config}': auths.'registry.example.com'.auth is not base64 "
        "of user:password; run `inferd login registry.example.com` to store it again"
    )


def test_a_config_file_that_is_a_symlink_stays_one(tmp_path: Path) -> None:
    # Dotfile managers (stow, home-manager…) link ~/.docker/config.json to their own copy;
    # docker writes through the link, and so does login and logout.
    dotfiles = tmp_path / "dotfiles" / "docker-config.json"
    dotfiles.parent.mkdir()
    dotfiles.write_text('{"auths": {}, "psFormat": "table"}\n')
    config = tmp_path / "docker" / "config.json"
    config.parent.mkdir()
    config.symlink_to(dotfiles)

    credentials.store(config, "registry.example.com", credentials.Credentials("alice", "pw"))
    assert config.is_symlink()
    assert credentials.lookup(dotfiles, "registry.example.com") == credentials.Credentials(
        "alice", "pw"
    )
    assert credentials.remove(config, "registry.example.com")
    assert config.is_symlink()
    assert credentials.lookup(dotfiles, "registry.example.com") is None


def test_a_config_path_that_cannot_be_a_file_is_named_as_the_docker_config(
    tmp_path: Path,
) -> None:
    # $DOCKER_CONFIG set to a file, or a directory where config.json goes: the error says
    # which file it is, not only the OS's words about a path.
    in_a_file = tmp_path / "hostname" / "config.json"
    in_a_file.parent.write_text("not a directory")
    with pytest.raises(InvalidArgument) as info:
        credentials.lookup(in_a_file, "registry.example.com")
    assert info.value.message == (
        f"the Docker config file '{in_a_file}' cannot be read: Not a directory"
    )
    # Nothing to read yet, and no directory can be made for it (/proc takes none).
    nowhere = Path("/proc/inferd-no-such-dir/config.json")
    with pytest.raises(InvalidArgument) as info:
        credentials.store(nowhere, "r.example.com", credentials.Credentials("alice", "pw"))
    assert info.value.message.startswith(f"the Docker config file '{nowhere}' cannot be written: ")
    a_directory = tmp_path / "docker" / "config.json"
    a_directory.mkdir(parents=True)
    with pytest.raises(InvalidArgument) as info:
        credentials.remove(a_directory, "registry.example.com")
    assert info.value.message == (
        f"the Docker config file '{a_directory}' cannot be read: Is a directory"
    )
