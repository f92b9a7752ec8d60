"""TLS: a registry whose certificate a test-made CA signed; plain HTTP only when marked insecure."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from inferd.cli import main
from inferd.errors import InvalidArgument, Unavailable
from inferd.packaging import push
from inferd.store.remote import RegistrySettings
from inferd.store.remote.transport import RegistryHttp, is_loopback_registry

from .conftest import Stores
from .registry import Registry


def test_push_and_pull_over_tls_verified_with_the_ca_file(
    tls_registry: tuple[Registry, Path], docker_config: Path, inferd_home: Path, model: Path,
    remote_store: Stores, tmp_path: Path,
) -> None:  # fmt: skip
    registry, ca = tls_registry
    settings = RegistrySettings(ca_file=ca, docker_config=docker_config)
    pushed = push(remote_store(inferd_home, settings), model, f"{registry.host}/tls/fraud:v1")
    other = remote_store(tmp_path / "other", settings)
    assert other.fetch(f"{registry.host}/tls/fraud:v1").digest == pushed.digest


def test_an_untrusted_certificate_is_refused_with_a_hint(
    tls_registry: tuple[Registry, Path], docker_config: Path, inferd_home: Path, model: Path,
    remote_store: Stores,
) -> None:  # fmt: skip
    registry, _ = tls_registry
    store = remote_store(inferd_home, RegistrySettings(docker_config=docker_config))
    with pytest.raises(Unavailable, match="not trusted; pass its CA with --ca-file") as info:
        push(store, model, f"{registry.host}/tls/fraud:v1")
    assert str(inferd_home) not in info.value.message


def test_the_cli_takes_the_ca_from_the_environment(
    tls_registry: tuple[Registry, Path], docker_config: Path, inferd_home: Path, model: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    registry, ca = tls_registry
    monkeypatch.setenv("INFERD_REGISTRY_CA", str(ca))
    result = CliRunner().invoke(main, ["push", str(model), f"{registry.host}/tls/cli:v1", "-q"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().startswith("sha256:")


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (None, "cannot be read: No such file or directory"),
        (b"not a certificate\n", "is not a PEM file of certificates (NO_CERTIFICATE_OR_CRL_FOUND)"),
    ],
    ids=["missing", "not-pem"],
)
def test_a_ca_file_that_cannot_be_used_is_a_bad_setting(
    docker_config: Path, inferd_home: Path, remote_store: Stores, tmp_path: Path,
    content: bytes | None, why: str,
) -> None:  # fmt: skip
    """What a server's fetch reports too (``inferd serve`` with INFERD_REGISTRY_CA): the file
    and why, not the OS or SSL error's class."""
    ca = tmp_path / "ca.pem"
    if content is not None:
        ca.write_bytes(content)
    store = remote_store(inferd_home, RegistrySettings(ca_file=ca, docker_config=docker_config))
    with pytest.raises(InvalidArgument) as info:
        store.fetch("127.0.0.1:9/team/fraud:v1")
    assert info.value.message == (
        f"the registry CA bundle {str(ca)!r} (--ca-file, INFERD_REGISTRY_CA) {why}"
    )


def test_a_loopback_registry_speaking_plain_http_needs_no_flag(
    open_registry: Registry, docker_config: Path, inferd_home: Path, model: Path,
    remote_store: Stores,
) -> None:  # fmt: skip
    """As docker does: 127.0.0.0/8 and localhost are insecure by default (HTTPS tried first)."""
    assert open_registry.host.startswith("127.")
    store = remote_store(inferd_home, RegistrySettings(docker_config=docker_config, attempts=1))
    pushed = push(store, model, f"{open_registry.host}/plain/fraud:v1")
    result = CliRunner().invoke(
        main, ["push", str(model), f"{open_registry.host}/plain/cli:v1", "-q"]
    )
    assert result.exit_code == 0, result.output
    port = open_registry.host.rsplit(":", 1)[1]
    by_name = CliRunner().invoke(main, ["inspect", f"localhost:{port}/plain/fraud:v1", "--json"])
    assert by_name.exit_code == 0, by_name.output
    assert pushed.digest in by_name.output


def test_a_loopback_registry_with_tls_keeps_tls(
    tls_registry: tuple[Registry, Path], docker_config: Path, inferd_home: Path, model: Path,
    remote_store: Stores,
) -> None:  # fmt: skip
    """The fallback is to a registry that answers TLS in plain HTTP, not to a bad certificate."""
    registry, _ = tls_registry
    store = remote_store(inferd_home, RegistrySettings(docker_config=docker_config))
    with pytest.raises(Unavailable, match="not trusted"):
        push(store, model, f"{registry.host}/tls/fraud:v1")


@pytest.mark.parametrize(
    ("registry", "loopback"),
    [("127.0.0.1:5000", True), ("127.8.0.1", True), ("localhost:5000", True), ("[::1]:5000", True),
     ("LOCALHOST", True), ("10.0.0.1:5000", False), ("registry.example.com", False),
     ("localhost.example.com:5000", False)],
)  # fmt: skip
def test_only_loopback_registries_are_insecure_by_default(registry: str, loopback: bool) -> None:
    assert is_loopback_registry(registry) is loopback
    http = RegistryHttp(registry, RegistrySettings())
    try:
        assert http.client.base_url.scheme == "https"
    finally:
        http.close()
