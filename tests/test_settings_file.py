"""Settings problems name where the value came from: the file's line, the environment variable,
or the field a flag set; a misspelt key says which one it may have meant."""

from __future__ import annotations

from pathlib import Path

import pytest

from inferd.config import ServerSettings
from inferd.errors import InvalidArgument
from inferd.settings_file import load_settings


def _problem(*, environ: dict[str, str], file: Path | None = None) -> str:
    with pytest.raises(InvalidArgument) as caught:
        load_settings(ServerSettings, file=file, environ=environ)
    return caught.value.message


def test_a_file_problem_names_its_line_and_a_misspelt_key_its_nearest(tmp_path: Path) -> None:
    file = tmp_path / "inferd.yaml"
    file.write_text("batching: {max_bach_size: 4}\nlimits:\n  max_body_bytes: 10\n")
    message = _problem(file=file, environ={})
    assert f"{file}:1:12: batching.max_bach_size: unknown key (did you mean 'max_batch_size'?)" in (
        message
    )
    assert f"{file}:3:3: limits.max_body_bytes: Input should be greater than or equal to 1024" in (
        message
    )


def test_an_environment_problem_names_the_variable() -> None:
    environ = {"INFERD_BATCHING__MAX_BACH_SIZE": "3", "INFERD_BATCHING__MAX_QUEUE_SIZE": "-1"}
    message = _problem(environ=environ)
    assert "INFERD_BATCHING__MAX_BACH_SIZE: unknown key (did you mean 'max_batch_size'?)" in message
    assert "INFERD_BATCHING__MAX_QUEUE_SIZE: Input should be greater than or equal to 1" in message


def test_the_environment_over_the_file_is_named_as_the_environment(tmp_path: Path) -> None:
    file = tmp_path / "inferd.yaml"
    file.write_text("batching: {max_queue_size: 8}\n")
    message = _problem(file=file, environ={"INFERD_BATCHING__MAX_QUEUE_SIZE": "0"})
    assert message.startswith("invalid settings: INFERD_BATCHING__MAX_QUEUE_SIZE: ")


def test_an_unknown_top_key_lists_the_sections_when_nothing_is_near(tmp_path: Path) -> None:
    file = tmp_path / "inferd.yaml"
    file.write_text("zzz: 1\n")
    assert "zzz: unknown key (known: " in _problem(file=file, environ={})
    assert "batching, " in _problem(file=file, environ={})


def test_trust_code_from_a_variable_is_a_comma_separated_list() -> None:
    """It was refused ("INFERD_TRUST_CODE: Input should be a valid tuple"): no variable could
    set it, unlike INFERD_ALLOWED_REGISTRIES, which is read the same way."""
    environ = {"INFERD_TRUST_CODE": "fraud, llm:v2"}
    settings = load_settings(ServerSettings, environ=environ)
    assert settings.trust_code == ("fraud", "llm:v2")


def test_a_key_given_twice_in_the_file_is_refused_naming_both_lines(tmp_path: Path) -> None:
    """YAML keeps the last of two equal keys: the first ``batching:`` section (its
    max_batch_size: 4) was dropped without a word."""
    file = tmp_path / "inferd.yaml"
    file.write_text("batching:\n  max_batch_size: 4\nport: 8090\nbatching:\n  max_queue_size: 9\n")
    assert _problem(file=file, environ={}) == (
        f"config file {str(file)!r}: 'batching' is given twice, at line 1 and at line 4, "
        "column 1 (YAML would keep only the last): write it once"
    )
    nested = tmp_path / "nested.yaml"
    nested.write_text("models:\n  fraud: {request_timeout_s: 1, request_timeout_s: 2}\n")
    assert "'request_timeout_s' is given twice, at line 2 and at line 2" in _problem(
        file=nested, environ={}
    )
