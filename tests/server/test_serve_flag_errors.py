"""A bad value given to an ``inferd serve`` flag is refused naming that flag (as a port's is),
not only the setting it sets; each flag accepts what its setting does."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from inferd.cli import main
from inferd.config import LimitSettings, ServerSettings
from inferd.settings_file import load_settings


def _serve(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["serve", "--no-grpc", "--no-control", *args, "m:v1"])
    return result.exit_code, result.stderr


@pytest.mark.parametrize(
    ("flag", "value", "expected"),
    [
        ("--max-batch-size", "0", "Invalid value for '--max-batch-size': 0 is not in the range"),
        ("--max-queue-size", "0", "Invalid value for '--max-queue-size': 0 is not in the range"),
        ("--max-queue-delay-ms", "-1", "Invalid value for '--max-queue-delay-ms'"),
        ("--max-body-bytes", "100", "Invalid value for '--max-body-bytes': 100 is not in"),
        # llama.cpp's limit, as the setting (and docs/cli.md) have it; the flag took 4096
        ("--max-num-seqs", "300", "'--max-num-seqs': 300 is not in the range 1<=x<=256"),
        ("--max-model-len", "20000000", "'--max-model-len': 20000000 is not in the range 16<="),
        ("--memory-budget", "0", "--memory-budget (memory_budget_bytes): Input should be"),
        ("--otlp-endpoint", "localhost:4318", "--otlp-endpoint/OTEL_EXPORTER_OTLP_ENDPOINT"),
    ],
)
def test_a_bad_flag_value_names_the_flag(
    inferd_home: Path, flag: str, value: str, expected: str
) -> None:
    status, stderr = _serve(flag, value)
    assert status == 2, stderr
    assert expected in stderr


def test_a_body_cap_over_the_default_read_budget_raises_the_budget(inferd_home: Path) -> None:
    """--max-body-bytes 512M was refused ("max_buffered_request_bytes (268435456) is smaller
    than max_body_bytes"), a setting no flag sets; unset, the budget is four bodies at the
    cap, so the start goes on (to the missing model)."""
    status, stderr = _serve("--max-body-bytes", str(512 * 1024**2))
    assert "max_buffered_request_bytes" not in stderr
    assert status == 3, stderr  # not found: the settings were taken
    body = {"limits": {"max_body_bytes": 512 * 1024**2}}
    assert load_settings(ServerSettings, environ={}, overrides=body).limits == LimitSettings(
        max_body_bytes=512 * 1024**2, max_buffered_request_bytes=2048 * 1024**2
    )
    # a budget set is the one used (and still checked against the cap)
    environ = {"INFERD_LIMITS__MAX_BUFFERED_REQUEST_BYTES": str(1024**3)}
    given = load_settings(ServerSettings, environ=environ, overrides=body)
    assert given.limits.max_buffered_request_bytes == 1024**3
