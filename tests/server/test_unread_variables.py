"""An ``INFERD_*`` variable that names no setting of ``inferd serve`` (a flag's name written as
a variable, a misspelling) did nothing and said nothing; the server now warns, naming the
variable it may have meant, and goes on."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from inferd.cli import main


def test_a_variable_naming_no_setting_is_warned_about(
    inferd_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INFERD_MAX_BATCH_SIZE", "4")
    monkeypatch.setenv("INFERD_REQUEST_TIMEOUT", "5")
    monkeypatch.setenv("INFERD_BATCHING__MAX_QUEUE_SIZE", "9")  # a setting: read, no warning
    monkeypatch.setenv("INFERD_ALLOWED_REGISTRIES", "r.example")  # read by the store
    result = CliRunner().invoke(main, ["serve", "--no-grpc", "--no-control", "m:v1"])
    assert result.exit_code == 3, result.stderr  # the model is missing: the start went on
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert warnings == [
        "warning: INFERD_MAX_BATCH_SIZE names no setting, so nothing reads it (did you mean "
        "INFERD_BATCHING__MAX_BATCH_SIZE?)",
        "warning: INFERD_REQUEST_TIMEOUT names no setting, so nothing reads it (did you mean "
        "INFERD_REQUEST_TIMEOUT_S?)",
    ]
