"""A real CNCF distribution registry (Debian's ``docker-registry``) run by the tests.

:func:`start_registry` writes a config into a temp directory (storage there too), binds a free
loopback port, and waits until ``/v2/`` answers. Variants: open, htpasswd basic auth, TLS with a
CA made by the test, and token auth against a token server the test runs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

BINARY = "docker-registry"


def registry_binary() -> str:
    """The registry binary; missing fails the test in CI (``make test`` installs it)."""
    found = shutil.which(BINARY) or (
        "/usr/bin/docker-registry" if Path("/usr/bin/docker-registry").exists() else None
    )
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("docker-registry is missing; `make test` installs it (scripts/system-deps)")
        pytest.skip("docker-registry is not installed (run scripts/system-deps)")
    return found


def free_port(address: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family) as sock:
        sock.bind((address, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Registry:
    """A running registry: ``host`` is what references use (``127.0.0.1:PORT``, ``[::1]:PORT``)."""

    host: str
    scheme: str
    process: subprocess.Popen[bytes]
    root: Path

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"


def _wait(url: str, process: subprocess.Popen[bytes], context: ssl.SSLContext | None) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"docker-registry exited with {process.returncode}")
        try:
            urllib.request.urlopen(f"{url}/v2/", timeout=1, context=context)
            return
        except urllib.error.HTTPError:
            return  # 401 from an auth-protected registry: it is up
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("docker-registry did not start")


@contextlib.contextmanager
def start_registry(
    root: Path,
    *,
    auth: dict[str, object] | None = None,
    tls: tuple[Path, Path] | None = None,
    ca: Path | None = None,
    address: str = "127.0.0.1",
) -> Iterator[Registry]:
    """Run a registry storing under ``root`` listening on ``address`` (IPv4 or IPv6); ``tls``
    is (cert, key), ``ca`` verifies it."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port(address)
    host = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    http: dict[str, object] = {"addr": host, "secret": "inferd-test"}
    if tls is not None:
        http["tls"] = {"certificate": str(tls[0]), "key": str(tls[1])}
    config: dict[str, object] = {
        "version": 0.1,
        "log": {"level": "error", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(root / "data")},
            "delete": {"enabled": True},
        },
        "http": http,
    }
    if auth is not None:
        config["auth"] = auth
    config_file = root / "config.yml"
    config_file.write_text(yaml.safe_dump(config))
    binary = registry_binary()  # skips the test before the log is opened, which it would leak
    log = (root / "registry.log").open("wb")
    process = subprocess.Popen(
        [binary, "serve", str(config_file)], stdout=log, stderr=subprocess.STDOUT
    )
    scheme = "https" if tls else "http"
    context = ssl.create_default_context(cafile=str(ca)) if ca is not None else None
    try:
        _wait(f"{scheme}://{host}", process, context)
        yield Registry(host, scheme, process, root)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
