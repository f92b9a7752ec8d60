"""A metadata file (``--signature FILE`` or ``inferd.model.yaml``) that is not YAML: the error
names the file and the line and column, as a settings file's does, not PyYAML's class name."""

from __future__ import annotations

from pathlib import Path

import pytest

from inferd.errors import InvalidArgument
from inferd.packaging.metadata import load_metadata


def test_broken_yaml_is_named_with_its_line_and_column(tmp_path: Path) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text("runtime: sklearn\ninputs: [\n")
    with pytest.raises(InvalidArgument) as info:
        load_metadata(file)
    message = info.value.message
    assert message.startswith(f"metadata file {str(file)!r}: not valid YAML at line 3, column 1")
    assert "Error)" not in message


def test_a_file_that_is_not_a_mapping_is_named(tmp_path: Path) -> None:
    file = tmp_path / "inferd.model.yaml"
    file.write_text("- runtime: sklearn\n")
    with pytest.raises(InvalidArgument) as info:
        load_metadata(file)
    assert info.value.message == f"metadata file {str(file)!r}: expected a mapping at the top"


def test_field_errors_still_name_the_file_and_field(tmp_path: Path) -> None:
    file = tmp_path / "inferd.model.yaml"
    file.write_text("runtim: sklearn\n")
    with pytest.raises(InvalidArgument, match=r"^inferd.model.yaml: runtim: Extra inputs"):
        load_metadata(file)
