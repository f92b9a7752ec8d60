"""``inferd login`` without a terminal: answers may be piped, input that ends is named, and
nothing is read twice."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from inferd.cli import main

# Nothing listens on the discard port: a login that got this far would report it unreachable.
HOST = "127.0.0.1:9"


@pytest.fixture(autouse=True)
def docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    return tmp_path / "docker"


def test_password_stdin_without_a_user_name_is_refused_before_reading_it() -> None:
    result = CliRunner().invoke(main, ["login", HOST, "--password-stdin"], input="s3cret\n")
    assert result.exit_code == 2, result.output
    assert "--password-stdin needs --username" in result.output
    assert "s3cret" not in result.output  # never echoed back as a "Username:" answer


@pytest.mark.parametrize(
    ("args", "missing"),
    [([], "user name"), (["-u", "alice"], "password")],
)
def test_input_that_ends_before_an_answer_is_one_error_naming_what_to_pass(
    args: list[str], missing: str
) -> None:
    result = CliRunner().invoke(main, ["login", HOST, *args], input="")
    assert result.exit_code == 2, result.output
    assert f"cannot read the {missing}: standard input ended" in result.output
    assert "-u USER --password-stdin" in result.output
    assert "Aborted" not in result.output


@pytest.mark.parametrize(
    "host",
    ["http://127.0.0.1:9", "https://registry.example.com", "127.0.0.1:9/team", "host:99999", ""],
)
def test_a_host_that_is_not_host_port_is_refused_naming_it(host: str) -> None:
    result = CliRunner().invoke(
        main, ["login", host, "-u", "alice", "--password-stdin"], input="s3cret\n"
    )
    assert result.exit_code == 2, result.output
    assert f"registry {host!r} is not HOST[:PORT]" in result.output
    assert "unreachable" not in result.output


def test_answers_piped_without_a_terminal_are_read() -> None:
    # As the README tour runs it: user and password on stdin, then the (absent) registry.
    result = CliRunner().invoke(main, ["login", HOST], input="alice\ns3cret\n")
    assert result.exit_code == 7, result.output
    assert f"registry {HOST} is unreachable" in result.output
