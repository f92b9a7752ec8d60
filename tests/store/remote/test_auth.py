"""Credentials: htpasswd basic auth, the bearer-token flow, Docker config files, login/logout."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from inferd.cli import main
from inferd.errors import Unauthenticated
from inferd.packaging import push
from inferd.store.remote import Credentials, RegistrySettings, credentials

from .conftest import PASSWORD, USER, Stores
from .registry import Registry


def _settings(registry: Registry, docker_config: Path) -> RegistrySettings:
    return RegistrySettings(insecure=frozenset({registry.host}), docker_config=docker_config)


def test_without_credentials_the_error_says_to_run_inferd_login(
    basic_registry: Registry, docker_config: Path, inferd_home: Path, model: Path,
    remote_store: Stores,
) -> None:  # fmt: skip
    store = remote_store(inferd_home, _settings(basic_registry, docker_config))
    with pytest.raises(Unauthenticated) as info:
        push(store, model, f"{basic_registry.host}/team/fraud:v1")
    assert f"inferd login {basic_registry.host}" in info.value.message
    assert PASSWORD not in info.value.message


def test_login_checks_and_stores_credentials_then_push_and_pull_work(
    basic_registry: Registry, docker_config: Path, inferd_home: Path, model: Path,
    remote_store: Stores, tmp_path: Path,
) -> None:  # fmt: skip
    runner = CliRunner()
    insecure = ["--insecure-registry", basic_registry.host]
    wrong = runner.invoke(
        main, ["login", basic_registry.host, "-u", USER, "--password-stdin", *insecure],
        input="not-the-password\n",
    )  # fmt: skip
    assert wrong.exit_code == 6
    # The login just run is not the way out: say that these credentials were refused.
    assert wrong.output == (
        f"error: registry {basic_registry.host} refused the credentials of {USER}: "
        "check the user name and password (or token); nothing was stored\n"
    )
    assert not (docker_config / "config.json").exists()

    ok = runner.invoke(
        main, ["login", basic_registry.host, "-u", USER, "--password-stdin", *insecure],
        input=f"{PASSWORD}\n",
    )  # fmt: skip
    assert ok.exit_code == 0, ok.output
    config_file = docker_config / "config.json"
    document = json.loads(config_file.read_text())
    auth = document["auths"][basic_registry.host]["auth"]
    assert base64.b64decode(auth).decode() == f"{USER}:{PASSWORD}"
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600

    store = remote_store(inferd_home, _settings(basic_registry, docker_config))
    pushed = push(store, model, f"{basic_registry.host}/team/fraud:v1")
    other = remote_store(tmp_path / "other", _settings(basic_registry, docker_config))
    assert other.fetch(f"{basic_registry.host}/team/fraud:v1").digest == pushed.digest

    out = runner.invoke(main, ["logout", basic_registry.host, "--json"])
    assert json.loads(out.output) == {"registry": basic_registry.host, "removed": True}
    assert basic_registry.host not in json.loads(config_file.read_text())["auths"]


def test_a_docker_config_written_by_docker_is_read_and_its_other_keys_kept(
    basic_registry: Registry, docker_config: Path, inferd_home: Path, model: Path,
    remote_store: Stores,
) -> None:  # fmt: skip
    docker_config.mkdir()
    secret = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    written = {
        "auths": {f"https://{basic_registry.host}": {"auth": secret}, "ghcr.io": {"auth": "eA=="}},
        "credHelpers": {"gcr.io": "gcloud"},
        "psFormat": "table {{.ID}}",
    }
    (docker_config / "config.json").write_text(json.dumps(written))
    store = remote_store(inferd_home, _settings(basic_registry, docker_config))
    push(store, model, f"{basic_registry.host}/team/fraud:v2")

    config_file = docker_config / "config.json"
    credentials.store(config_file, "registry.example.com", Credentials("bob", "pw"))
    kept = json.loads(config_file.read_text())
    assert kept["credHelpers"] == {"gcr.io": "gcloud"}
    assert kept["psFormat"] == "table {{.ID}}"
    assert credentials.lookup(config_file, "registry.example.com") == Credentials("bob", "pw")
    assert "pw" not in repr(Credentials("bob", "pw"))


def test_the_bearer_token_flow_asks_the_realm_for_the_scope(
    token_registry: tuple[Registry, str, list[str]], docker_config: Path, inferd_home: Path,
    model: Path, remote_store: Stores, tmp_path: Path,
) -> None:  # fmt: skip
    registry, realm, token_requests = token_registry
    settings = _settings(registry, docker_config).with_insecure([realm])
    anonymous = remote_store(inferd_home, settings)
    with pytest.raises(Unauthenticated, match=f"inferd login {registry.host}"):
        push(anonymous, model, f"{registry.host}/team/fraud:v1")

    credentials.store(docker_config / "config.json", registry.host, Credentials(USER, PASSWORD))
    store = remote_store(tmp_path / "home2", settings)
    pushed = push(store, model, f"{registry.host}/team/fraud:v1")
    fetched = remote_store(tmp_path / "home3", settings)
    assert fetched.fetch(f"{registry.host}/team/fraud:v1").digest == pushed.digest
    scopes = "\n".join(token_requests)
    assert "scope=repository%3Ateam%2Ffraud%3Apull%2Cpush" in scopes
    assert "service=inferd-test-registry" in scopes
    # Tokens are reused: far fewer token requests than registry requests.
    assert len(token_requests) < 12
