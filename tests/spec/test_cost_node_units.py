"""``cost.node.memory`` without a unit: Kubernetes reads ``32`` as 32 bytes, which made a
replica's node share (and so its price) hundreds of millions of times too large."""

from __future__ import annotations

import pytest

from inferd.spec.loading import SpecError, parse_spec

HEAD = """\
apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: fraud
    versions: [{name: v1, model: "fraud:v1"}]
"""


@pytest.mark.parametrize("memory", ["32", "32000", "'512k'"])
def test_a_node_memory_without_a_unit_is_refused_at_its_line(memory: str) -> None:
    document = HEAD + f"cost: {{price_per_node_hour: 0.4, node: {{cpu: 8, memory: {memory}}}}}\n"
    with pytest.raises(SpecError) as caught:
        parse_spec(document, "inferd.yaml")
    (problem,) = caught.value.problems
    assert problem.line == 6
    assert "inferd.yaml:6:" in str(caught.value) and "cost.node.memory:" in str(caught.value)
    assert "bytes" in problem.message and "'32Gi'" in problem.message


@pytest.mark.parametrize("memory", ["32Gi", "512Mi", "64G"])
def test_a_node_memory_with_a_unit_is_taken(memory: str) -> None:
    document = HEAD + f"cost: {{price_per_node_hour: 0.4, node: {{cpu: 8, memory: {memory}}}}}\n"
    spec = parse_spec(document, "inferd.yaml")
    assert spec.cost is not None and spec.cost.node is not None
    assert spec.cost.node.memory == memory
