"""A host that answers, but not as an OCI registry (a web server, a proxy's HTML page): the error
says what came back, never a traceback from the JSON parser."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from inferd.cli import main
from inferd.errors import Unsupported
from inferd.store.remote import RegistrySettings
from inferd.store.remote.client import RegistryClient
from inferd.store.remote.transport import RegistryHttp

from .serving import serving


class _Page(BaseHTTPRequestHandler):
    """200 and an HTML page for every GET, as a web server's catch-all route answers."""

    def do_GET(self) -> None:
        body = b"<html><body>Welcome</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def web_server() -> Iterator[str]:
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), _Page)) as address:
        yield address


def test_ls_of_a_web_server_says_it_did_not_answer_as_a_registry(
    web_server: str, docker_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INFERD_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(
        main, ["ls", f"{web_server}/team/fraud", "--insecure-registry", web_server]
    )
    assert result.exit_code == 10, result.output
    assert result.output == (
        f"error: registry {web_server} answered the tags of team/fraud with something other "
        "than JSON; is it an OCI registry?\n"
    )


def test_referrers_of_a_web_server_say_the_same(web_server: str, docker_config: Path) -> None:
    settings = RegistrySettings(insecure=frozenset({web_server}), docker_config=docker_config)
    http = RegistryHttp(web_server, settings)
    try:
        with pytest.raises(Unsupported, match="with something other than JSON"):
            RegistryClient(http).referrers("team/fraud", "sha256:" + "ab" * 32)
    finally:
        http.close()
