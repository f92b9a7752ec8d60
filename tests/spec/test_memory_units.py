"""Memory written without a unit: Kubernetes reads ``32`` as 32 bytes. As ``cost.node.memory``
it made a replica's node share (and so its price) hundreds of millions of times too large; as a
replica's ``resources.memory`` or ``gpu_memory`` it rendered a pod that cannot start."""

from __future__ import annotations

import pytest

from inferd.spec.loading import SpecError, parse_spec

from .conftest import ONE_DEPLOYMENT

HEAD = ONE_DEPLOYMENT


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


@pytest.mark.parametrize("field", ["memory", "gpu_memory"])
def test_a_replica_memory_without_a_unit_is_refused_at_its_line(field: str) -> None:
    document = HEAD + f"    resources: {{{field}: 512}}\n"
    with pytest.raises(SpecError) as caught:
        parse_spec(document, "inferd.yaml")
    (problem,) = caught.value.problems
    assert problem.line == 6
    assert f"resources.{field}:" in str(caught.value)
    assert "'512' is 512 bytes" in problem.message and "'512Mi'" in problem.message


def test_a_replica_memory_with_a_unit_is_taken() -> None:
    document = HEAD + "    resources: {memory: 512Mi, gpu: 1, gpu_memory: 8Gi}\n"
    resources = parse_spec(document, "inferd.yaml").deployments[0].resources
    assert (resources.memory, resources.gpu_memory) == ("512Mi", "8Gi")
