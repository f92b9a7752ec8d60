"""``auth.public_metrics`` from the settings file or the environment, without a keys file,
did nothing (every route is open without keys) and said nothing; it is refused as the
``--public-metrics`` flag is."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from inferd.cli import main

REFUSAL = (
    "error: auth.public_metrics goes with --keys-file (or auth.keys_file): without keys, "
    "/metrics and every other route are open already"
)


def test_public_metrics_from_the_file_without_keys_is_refused(
    inferd_home: Path, tmp_path: Path
) -> None:
    config = tmp_path / "inferd.yaml"
    config.write_text("auth: {public_metrics: true}\n")
    args = ["serve", "--no-grpc", "--config", str(config), "m:v1"]
    result = CliRunner().invoke(main, args)
    assert (result.exit_code, result.stderr.strip()) == (2, REFUSAL)


def test_public_metrics_from_the_environment_without_keys_is_refused(
    inferd_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INFERD_AUTH__PUBLIC_METRICS", "true")
    result = CliRunner().invoke(main, ["serve", "--no-grpc", "m:v1"])
    assert (result.exit_code, result.stderr.strip()) == (2, REFUSAL)
