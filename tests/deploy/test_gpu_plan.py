"""``inferd gpu plan``: first-fit decreasing placement of GPU replicas by memory."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from inferd.deploy.gpu_capacity import Demand, Gpu
from inferd.deploy.gpu_plan import load_nodes, plan
from inferd.errors import InvalidArgument

from .conftest import GPU_OVERLAY, GPU_SPEC, NODES, QUICKSTART, cli

GIB = 2**30


def _demand(name: str, memory: int | None, gpus: int = 1, product: str | None = None) -> Demand:
    return Demand(name, "v1", 0, gpus, None if memory is None else memory * GIB, product)


def _gpus(*sizes: int, node: str = "n1", product: str = "T4") -> list[Gpu]:
    return [Gpu(node, i, product, size * GIB) for i, size in enumerate(sizes)]


def test_largest_replicas_are_placed_first() -> None:
    # In the given order first-fit would put 6 on the 16 GiB GPU 0, then find no GPU for 12;
    # decreasing order places 12 first and both fit, a GPU each.
    result = plan([_demand("a", 6), _demand("c", 12)], _gpus(16, 10))
    assert [(p.demand.deployment, p.gpus) for p in result.assignments] == [
        ("c", (0,)),
        ("a", (1,)),
    ]
    assert not result.unplaced and not result.idle


def test_what_does_not_fit_is_reported_with_the_reason() -> None:
    result = plan([_demand("big", 40), _demand("a", 10), _demand("b", 10)], _gpus(16))
    assert [u.demand.deployment for u in result.unplaced] == ["big", "b"]
    assert result.unplaced[0].reason == "needs 40Gi free per GPU; the largest GPU has 16Gi"
    assert "at most 0 left on any node" in result.unplaced[1].reason


def test_idle_gpus_are_listed() -> None:
    result = plan([_demand("a", 4)], _gpus(16, 16, 16))
    assert [(g.node, g.index) for g in result.idle] == [("n1", 1), ("n1", 2)]


def test_whole_gpu_replicas_take_unused_gpus_only() -> None:
    result = plan(
        [_demand("small", 1), _demand("whole", None), _demand("whole2", None)], _gpus(16, 16)
    )
    # Whole GPUs count as the largest size, so they go first and leave nothing to share.
    assert {p.demand.deployment: p.gpus for p in result.assignments} == {
        "whole": (0,),
        "whole2": (1,),
    }
    assert [u.demand.deployment for u in result.unplaced] == ["small"]


def test_multi_gpu_replicas_stay_on_one_node() -> None:
    gpus = [*_gpus(80, node="a"), *_gpus(80, 80, node="b")]
    result = plan([_demand("pair", 40, gpus=2)], gpus)
    (placed,) = result.assignments
    assert (placed.node, placed.gpus) == ("b", (0, 1))


def test_a_product_placement_only_uses_that_product() -> None:
    gpus = [*_gpus(80, node="a", product="H100"), *_gpus(16, node="b", product="T4")]
    result = plan([_demand("t4-only", 4, product="T4"), _demand("l4", 4, product="L4")], gpus)
    assert [(p.demand.deployment, p.node) for p in result.assignments] == [("t4-only", "b")]
    assert result.unplaced[0].reason == "no node has a L4 GPU"


def test_the_cli_plans_the_gpu_spec_on_its_nodes() -> None:
    result = cli("gpu", "plan", GPU_SPEC, "--nodes", NODES, "--overlay", GPU_OVERLAY, "--json")
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    assert not report["unplaced"]
    placed = {p["replica"]: (p["node"], p["gpus"]) for p in report["placements"]}
    assert placed["embedder/v1#0"] == ("h100-node", [0, 1])
    assert placed["fraud/v3#2"] == ("a100-node", [0])
    assert {(g["node"], g["index"]) for g in report["idle"]} == {
        ("a100-node", 1), ("h100-node", 2), ("h100-node", 3), ("t4-node", 1),
    }  # fmt: skip


def test_the_cli_exits_1_when_autoscaling_could_outgrow_the_nodes() -> None:
    result = cli("gpu", "plan", GPU_SPEC, "--nodes", NODES, "--overlay", GPU_OVERLAY,
                 "--scale", "max")  # fmt: skip
    assert result.exit_code == 1
    assert "does not fit: ranker/" in result.stdout
    assert "not placed" in result.stdout


def test_a_bad_nodes_file_names_the_problem(tmp_path: Path) -> None:
    nodes = tmp_path / "nodes.yaml"
    nodes.write_text("nodes:\n  - name: a\n    gpus: [{product: T4, memory: lots}]\n", "utf-8")
    with pytest.raises(InvalidArgument, match=r"nodes\.0\.gpus\.0\.memory"):
        load_nodes(nodes)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "nodes.yaml:1:1: nodes: required key 'nodes' is missing"),
        (b"\xff\xfe", "nodes file '{path}': not UTF-8 text (byte 0)"),
        (b"- a\n", "nodes file '{path}': expected a mapping at the top"),
        (
            b"nodes:\n  - name: a\n    gpus: [{product: T4, memory: 16Gi, cont: 1}]\n",
            "nodes.yaml:3:40: nodes.0.gpus.0.cont: unknown key (did you mean 'count'?)",
        ),
    ],
)
def test_a_nodes_file_that_is_not_one_says_why_in_words(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    nodes = tmp_path / "nodes.yaml"
    nodes.write_bytes(content)
    with pytest.raises(InvalidArgument) as caught:
        load_nodes(nodes)
    assert problem.format(path=nodes) in caught.value.message


@pytest.mark.parametrize("command", [("gpu", "plan"), ("k8s", "gpu-operator")])
def test_a_placement_render_refuses_is_refused_by_the_gpu_commands(
    tmp_path: Path, command: tuple[str, str]
) -> None:
    # The quickstart's fraud has no GPU: render refuses to place it, and so must these.
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(
        "deployments:\n  fraud: {gpu_product: NVIDIA-A100-SXM4-80GB, mig_profile: 1g.10gb}\n",
        "utf-8",
    )
    result = cli(*command, QUICKSTART, "--nodes", NODES, "--overlay", overlay)
    assert result.exit_code == 2, result.output
    assert "deployment 'fraud': GPU placement options are set but resources.gpu is 0" in (
        result.stderr
    )


RANKER = """apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: ranker
    versions: [{name: v1, model: "ranker:v1", replicas: 2}]
    resources: {gpu: 1, gpu_memory: 6Gi}
"""


def test_the_plan_takes_the_placement_flags_render_takes(tmp_path: Path) -> None:
    """``render --gpu-product Tesla-T4 --time-slicing 2`` pins the pods to time-sliced T4s;
    ``gpu plan`` had no such flags, so the same placement could only be planned by writing an
    overlay, and a plan without them put the replicas on an A100."""
    spec = tmp_path / "inferd.yaml"
    spec.write_text(RANKER, encoding="utf-8")
    flags = ("--gpu-product", "Tesla-T4", "--time-slicing", "2")
    result = cli("gpu", "plan", spec, "--nodes", NODES, *flags, "--json")
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    placed = {p["replica"]: (p["node"], p["gpus"]) for p in report["placements"]}
    assert placed == {"ranker/v1#0": ("t4-node", [0]), "ranker/v1#1": ("t4-node", [0])}
    # The flag over the overlay's shared placement, as render reads them.
    overlay = tmp_path / "k8s.yaml"
    overlay.write_text("placement: {gpu_product: NVIDIA-A100-SXM4-80GB}\n", encoding="utf-8")
    result = cli("gpu", "plan", spec, "--nodes", NODES, "--overlay", overlay, *flags, "--json")
    assert result.exit_code == 0, result.output
    assert {p["node"] for p in orjson.loads(result.stdout)["placements"]} == {"t4-node"}
    refused = cli("gpu", "plan", QUICKSTART, "--nodes", NODES, "--gpu-product", "Tesla-T4")
    assert refused.exit_code == 2
    assert "GPU placement options are set (gpu_product)" in refused.stderr


def test_a_nodes_file_problem_names_its_line_and_the_field(tmp_path: Path) -> None:
    nodes = tmp_path / "nodes.yaml"
    nodes.write_text(
        "nodes:\n  - name: a\n    gpus:\n      - {product: T4, memory: 16GB}\n", "utf-8"
    )
    with pytest.raises(InvalidArgument) as caught:
        load_nodes(nodes)
    assert caught.value.message == (
        f"{nodes}:4:23: nodes.0.gpus.0.memory: '16GB' is not a Kubernetes quantity "
        "(e.g. '500m', '2', '512Mi', '1G')"
    )


def test_a_node_listed_twice_or_misnamed_is_refused(tmp_path: Path) -> None:
    """Kubernetes node names are unique DNS subdomains: a second entry of the same node showed
    as two GPUs with the same node and index, and the MIG layout and labels of one node were
    written for both."""
    nodes = tmp_path / "nodes.yaml"
    nodes.write_text(
        "nodes:\n  - name: t4\n    gpus: [{product: Tesla-T4, memory: 16Gi}]\n"
        "  - name: t4\n    gpus: [{product: Tesla-T4, memory: 16Gi}]\n",
        "utf-8",
    )
    with pytest.raises(InvalidArgument) as caught:
        load_nodes(nodes)
    assert caught.value.message.startswith(f"{nodes}:4:5: nodes.1.name: node 't4' is listed twice")
    nodes.write_text("nodes:\n  - name: T4_node\n    gpus: [{product: T4, memory: 16Gi}]\n")
    with pytest.raises(InvalidArgument, match="'T4_node' is not a Kubernetes object name"):
        load_nodes(nodes)
