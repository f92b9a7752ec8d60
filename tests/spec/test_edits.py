"""Edits of a running spec keep what validation guarantees."""

from __future__ import annotations

import pytest

from inferd.errors import InternalError
from inferd.spec.edits import with_versions
from inferd.spec.model import DeploymentSpec


def test_with_versions_refuses_two_versions_of_one_name() -> None:
    d = DeploymentSpec.model_validate(
        {"name": "fraud", "versions": [{"name": "v1", "model": "fraud:v1"},
                                       {"name": "v1-next", "model": "fraud:v2"}],
         "traffic": {"weights": {"v1": 100}}}
    )  # fmt: skip
    twice = d.versions[1].model_copy(update={"model": "fraud:v3"})
    with pytest.raises(InternalError, match="2 versions named 'v1-next'"):
        with_versions(d, [*d.versions, twice], {"v1": 100})
    assert [v.name for v in with_versions(d, d.versions[:1], {"v1": 100}).versions] == ["v1"]
