"""A registry that speaks plain HTTP, reached by a user who did not mark it insecure (or marked
it with a URL): the error says what to pass, as docker's "server gave HTTP response to HTTPS
client" does, instead of an SSL error or a setting that silently does nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from inferd.cli import main
from inferd.errors import InvalidArgument
from inferd.store.remote import RegistrySettings
from inferd.store.remote.transport import RegistryHttp

from .registry import Registry


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("INFERD_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("INFERD_INSECURE_REGISTRIES", raising=False)
    monkeypatch.delenv("INFERD_ALLOWED_REGISTRIES", raising=False)
    return tmp_path / "home"


def _not_loopback(registry: Registry) -> str:
    """The registry as ``127.1:PORT``: the resolver reaches it, but the name is not one inferd
    knows as loopback, so it gets no plain-HTTP fallback (as a LAN registry would not)."""
    return registry.host.replace("127.0.0.1", "127.1")


def test_a_plain_http_registry_not_marked_insecure_is_named_with_the_flag_to_pass(
    open_registry: Registry, docker_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = _not_loopback(open_registry)
    attempts: list[int] = []

    def backoff(self: RegistryHttp, attempt: int) -> float:
        attempts.append(attempt)
        return 0.0

    monkeypatch.setattr(RegistryHttp, "_backoff", backoff)
    result = CliRunner().invoke(main, ["ls", f"{host}/team/fraud"])
    assert result.exit_code == 7, result.output
    assert f"error: registry {host} answered in plain HTTP, not HTTPS" in result.output
    assert f"--insecure-registry {host}" in result.output
    assert "wrong version number" not in result.output
    assert attempts == []  # the answer is not going to change: no retries

    marked = CliRunner().invoke(main, ["ls", f"{host}/team/fraud", "--insecure-registry", host])
    assert marked.exit_code == 3, marked.output  # reached: the repository does not exist


@pytest.mark.parametrize(
    "entry", ["http://registry.example.com:5000", "registry.example.com/team", "host:99999"]
)
def test_an_insecure_registry_that_is_not_host_port_is_refused_naming_it(
    entry: str, docker_config: Path
) -> None:
    result = CliRunner().invoke(
        main, ["ls", "registry.example.com:5000/team/fraud", "--insecure-registry", entry]
    )
    assert result.exit_code == 2, result.output
    assert f"--insecure-registry {entry!r}" in result.output
    assert "is not HOST[:PORT]" in result.output


@pytest.mark.parametrize("variable", ["INFERD_INSECURE_REGISTRIES", "INFERD_ALLOWED_REGISTRIES"])
def test_a_registry_list_in_the_environment_names_the_entry_that_is_not_a_host(
    variable: str,
) -> None:
    environ = {variable: "registry.example.com, https://other.example.com"}
    with pytest.raises(InvalidArgument) as info:
        RegistrySettings.from_environ(environ)
    assert info.value.message.startswith(f"{variable}: registry 'https://other.example.com'")
    assert "is not HOST[:PORT]" in info.value.message
    bare = RegistrySettings.from_environ({variable: "registry.example.com, [::1]:5000,"})
    assert bare.insecure | bare.allowed == {"registry.example.com", "[::1]:5000"}


def test_a_tls_registry_marked_insecure_says_to_drop_the_mark_and_pass_its_ca(
    tls_registry: tuple[Registry, Path], docker_config: Path, model: Path
) -> None:
    # Docker users mark registries with self-signed certificates insecure; inferd's mark means
    # plain HTTP, which a TLS port answers with a bare 400.
    registry, ca = tls_registry
    result = CliRunner().invoke(
        main, ["push", str(model), f"{registry.host}/team/fraud:v1", "--insecure-registry",
               registry.host],
    )  # fmt: skip
    assert result.exit_code == 10, result.output
    assert f"drop --insecure-registry {registry.host}" in result.output
    assert "pass its CA with --ca-file" in result.output

    right = CliRunner().invoke(
        main, ["push", str(model), f"{registry.host}/team/fraud:v1", "--ca-file", str(ca)]
    )
    assert right.exit_code == 0, right.output
