"""A key repeated in one mapping is reported at the repeat, by its whole path in the document
(as every other problem is), naming the line of the first."""

from __future__ import annotations

import pytest

from inferd.spec.loading import SpecError, parse_spec

from .conftest import ONE_DEPLOYMENT

HEAD = ONE_DEPLOYMENT.removesuffix('    versions: [{name: v1, model: "fraud:v1"}]\n')


def test_a_repeated_key_is_named_by_its_path_and_the_first_line() -> None:
    document = HEAD + (
        "    versions:\n"
        "      - name: v1\n"
        '        model: "fraud:v1"\n'
        "        replicas: 1\n"
        "        replicas: 2\n"
        "    traffic: {weights: {v1: 50, v1: 100}}\n"
    )
    with pytest.raises(SpecError) as caught:
        parse_spec(document, "s.yaml")
    assert [str(p) for p in caught.value.problems] == [
        "s.yaml:9:9: deployments[0].versions[0].replicas: key 'replicas' appears twice in the "
        "same mapping (first at line 8)",
        "s.yaml:10:33: deployments[0].traffic.weights.v1: key 'v1' appears twice in the same "
        "mapping (first at line 10)",
    ]


def test_a_repeated_top_level_key() -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(ONE_DEPLOYMENT + "kind: Stack\n", "s.yaml")
    assert [str(p) for p in caught.value.problems] == [
        "s.yaml:6:1: kind: key 'kind' appears twice in the same mapping (first at line 2)"
    ]
