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


def test_a_bad_profile_field_is_the_one_error_named(tmp_path: Path) -> None:
    # One bad key deep in a reference profile: pydantic also reports each enclosing tuple as
    # "at least 1 item ... not 0", which is not what is wrong (the file has one of each).
    feature = "{name: a, edges: [], proportions: [1.0], mean: 0, std: 0, min: 0, max: 0, mising: 0}"
    file = tmp_path / "inferd.model.yaml"
    file.write_text(
        f"reference_profile: {{rows: 1, inputs: [{{name: input, features: [{feature}]}}]}}\n"
    )
    with pytest.raises(InvalidArgument) as info:
        load_metadata(file)
    assert info.value.message == (
        "inferd.model.yaml: reference_profile.inputs.0.features.0.mising: "
        "Extra inputs are not permitted"
    )


def test_an_empty_list_is_still_named(tmp_path: Path) -> None:
    file = tmp_path / "inferd.model.yaml"
    file.write_text("reference_profile: {rows: 1, inputs: []}\n")
    with pytest.raises(InvalidArgument, match=r"reference_profile\.inputs: Tuple should have at"):
        load_metadata(file)
