"""``batching.max_queue_wait_ms`` is read like its siblings: off (0) by default, from the
settings file, ``INFERD_BATCHING__MAX_QUEUE_WAIT_MS`` and ``inferd serve --max-queue-wait-ms``
(flags > environment > file), and a negative value is refused naming where it came from."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from inferd.cli import main
from inferd.config import ServerSettings
from inferd.errors import InvalidArgument
from inferd.settings_file import load_settings

ENV = "INFERD_BATCHING__MAX_QUEUE_WAIT_MS"


def test_off_by_default() -> None:
    assert load_settings(ServerSettings, environ={}).batching.max_queue_wait_ms == 0


def test_file_then_environment_then_flag(tmp_path: Path) -> None:
    file = tmp_path / "inferd.yaml"
    file.write_text("batching: {max_queue_wait_ms: 40}\n")
    assert load_settings(ServerSettings, file=file, environ={}).batching.max_queue_wait_ms == 40
    from_env = load_settings(ServerSettings, file=file, environ={ENV: "12.5"})
    assert from_env.batching.max_queue_wait_ms == 12.5
    flag = {"batching": {"max_queue_wait_ms": 7.0}}
    from_flag = load_settings(ServerSettings, file=file, environ={ENV: "12.5"}, overrides=flag)
    assert from_flag.batching.max_queue_wait_ms == 7.0
    assert from_flag.batching.max_queue_size == 256  # the flag set only its own field


def test_a_negative_wait_is_refused_naming_the_variable() -> None:
    with pytest.raises(InvalidArgument) as caught:
        load_settings(ServerSettings, environ={ENV: "-1"})
    assert f"{ENV}: Input should be greater than or equal to 0" in caught.value.message


def test_serve_has_the_flag_and_refuses_a_negative_one() -> None:
    runner = CliRunner()
    assert "--max-queue-wait-ms" in runner.invoke(main, ["serve", "--help"]).output
    result = runner.invoke(main, ["serve", "--max-queue-wait-ms", "-1", "m:v1"])
    assert result.exit_code == 2
    assert "Invalid value for '--max-queue-wait-ms'" in result.output
