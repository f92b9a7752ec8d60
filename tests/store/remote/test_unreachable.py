"""A registry that cannot be reached: the error says why (refused, no such host), not which
httpx exception class carried it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from inferd.cli import main
from inferd.store.remote.transport import RegistryHttp


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("INFERD_HOME", str(tmp_path / "home"))
    # The retries stay (five attempts), without their backoff.
    monkeypatch.setattr(RegistryHttp, "_backoff", lambda self, attempt: 0.0)
    return tmp_path / "home"


@pytest.mark.parametrize(
    ("host", "why"),
    [
        ("127.0.0.1:9", "connection refused"),  # nothing listens on the discard port
        ("nosuch.invalid:5000", "cannot resolve host nosuch.invalid"),  # RFC 6761: never resolves
    ],
)
def test_unreachable_says_why(host: str, why: str) -> None:
    result = CliRunner().invoke(
        main, ["inspect", f"{host}/team/fraud:v1", "--insecure-registry", host]
    )
    assert result.exit_code == 7, result.output
    assert f"error: registry {host} is unreachable: {why}" in result.output
    assert "ConnectError" not in result.output
