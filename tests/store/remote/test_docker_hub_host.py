"""Docker Hub's names reach its API host: ``docker.io/me/model:v1`` went to
``https://docker.io/v2/``, which serves a web page, not the distribution API; docker sends it
to ``registry-1.docker.io``, and so does inferd now. (No network here: the URL is checked.)"""

from __future__ import annotations

import pytest

from inferd.store.remote.settings import RegistrySettings
from inferd.store.remote.transport import RegistryHttp, api_host


@pytest.mark.parametrize("name", ["docker.io", "index.docker.io", "Docker.IO"])
def test_docker_hub_names_go_to_its_api_host(name: str) -> None:
    http = RegistryHttp(name, RegistrySettings())
    try:
        assert str(http.client.base_url) == "https://registry-1.docker.io"
        assert http.registry == name  # still named as the reference names it
    finally:
        http.close()


def test_other_registries_are_their_own_api_host() -> None:
    assert api_host("ghcr.io") == "ghcr.io"
    assert api_host("localhost:5000") == "localhost:5000"
    assert api_host("docker.io.example.com") == "docker.io.example.com"
