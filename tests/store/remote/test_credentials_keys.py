"""Docker config entries keyed as docker writes and reads them: a registry's entry may be keyed
``https://HOST/`` or ``HOST/v2/`` (what an older ``docker login`` was typed), and docker finds it
by its host (``ConvertToHostname``); so do push, pull and ls, and logout forgets it."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from inferd.cli import main
from inferd.store.remote import Credentials, credentials

from .conftest import PASSWORD, USER
from .registry import Registry


@pytest.mark.parametrize("key", ["https://{host}/", "http://{host}/v2/", "{host}/v1/"])
def test_an_entry_keyed_with_a_path_is_used_and_logout_forgets_it(
    key: str, basic_registry: Registry, docker_config: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, model: Path,
) -> None:  # fmt: skip
    monkeypatch.setenv("INFERD_HOME", str(tmp_path / "home"))
    host = basic_registry.host
    docker_config.mkdir()
    secret = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    auths = {key.format(host=host): {"auth": secret}, "other.example.com/": {"auth": "eDp5"}}
    (docker_config / "config.json").write_text(json.dumps({"auths": auths}))

    runner = CliRunner()
    insecure = ["--insecure-registry", host]
    pushed = runner.invoke(main, ["push", str(model), f"{host}/team/fraud:v1", *insecure])
    assert pushed.exit_code == 0, pushed.output
    listed = runner.invoke(main, ["ls", f"{host}/team/fraud", *insecure])
    assert listed.exit_code == 0, listed.output

    out = runner.invoke(main, ["logout", host, "--json"])
    assert json.loads(out.output) == {"registry": host, "removed": True}
    left = json.loads((docker_config / "config.json").read_text())["auths"]
    assert left == {"other.example.com/": {"auth": "eDp5"}}
    refused = runner.invoke(main, ["ls", f"{host}/team/fraud", *insecure])
    assert refused.exit_code == 6, refused.output


def test_login_replaces_an_entry_keyed_with_a_path(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    old = base64.b64encode(b"alice:old").decode()
    config.write_text(json.dumps({"auths": {"https://registry.example.com/": {"auth": old}}}))
    credentials.store(config, "registry.example.com", Credentials("alice", "new"))
    auths = json.loads(config.read_text())["auths"]
    assert list(auths) == ["registry.example.com"]
    assert credentials.lookup(config, "registry.example.com") == Credentials("alice", "new")
    # A host is matched whole: another port or a longer name is another registry.
    assert credentials.lookup(config, "registry.example.com:5000") is None
    assert credentials.lookup(config, "registry.example") is None


@pytest.mark.parametrize("host", ["registry-1.docker.io", "docker.io", "index.docker.io"])
def test_docker_hub_shares_the_entry_docker_login_writes(tmp_path: Path, host: str) -> None:
    # `docker login` (no server) keeps Docker Hub under its index URL, whichever name a
    # reference uses for it; inferd reads that entry and writes its own login there too.
    config = tmp_path / "config.json"
    hub = base64.b64encode(b"alice:hub-token").decode()
    config.write_text(json.dumps({"auths": {"https://index.docker.io/v1/": {"auth": hub}}}))
    assert credentials.lookup(config, host) == Credentials("alice", "hub-token")

    credentials.store(config, host, Credentials("alice", "new-token"))
    auths = json.loads(config.read_text())["auths"]
    assert list(auths) == ["https://index.docker.io/v1/"]
    assert credentials.lookup(config, "registry-1.docker.io") == Credentials("alice", "new-token")
    assert credentials.lookup(config, "ghcr.io") is None
    assert credentials.remove(config, host)
    assert json.loads(config.read_text())["auths"] == {}
