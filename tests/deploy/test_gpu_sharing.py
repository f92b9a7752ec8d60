"""``inferd gpu plan`` with shared GPUs: time-slicing (N replicas per GPU) and MIG slices
(as many of a profile as the product's published MIG table allows)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from inferd.deploy.gpu_capacity import Demand, Gpu
from inferd.deploy.gpu_plan import plan
from inferd.deploy.mig import MIG_GPUS, mig_gpu

from .conftest import cli

GIB = 2**30


def _stack(tmp_path: Path, replicas: int, placement: str, memory: str | None = None) -> Path:
    """A spec with one GPU deployment, its overlay beside it; returns the spec's path."""
    gpu_memory = f"\n      gpu_memory: {memory}" if memory else ""
    (tmp_path / "inferd.yaml").write_text(
        f"""apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: fraud
    versions: [{{name: v1, model: fraud:v1, replicas: {replicas}}}]
    resources:
      gpu: 1{gpu_memory}
""",
        "utf-8",
    )
    (tmp_path / "k8s.yaml").write_text(f"placement: {placement}\n", "utf-8")
    return tmp_path / "inferd.yaml"


def _nodes(tmp_path: Path, product: str, memory: str, count: int = 1) -> Path:
    path = tmp_path / "nodes.yaml"
    path.write_text(
        f"nodes:\n  - name: n\n    gpus: [{{product: {product}, memory: {memory}, "
        f"count: {count}}}]\n",
        "utf-8",
    )
    return path


def _plan(
    tmp_path: Path, spec: Path, nodes: Path
) -> tuple[int, dict[str, list[dict[str, object]]]]:
    result = cli("gpu", "plan", spec, "--nodes", nodes, "--overlay", tmp_path / "k8s.yaml",
                 "--json")  # fmt: skip
    return result.exit_code, orjson.loads(result.stdout)


def test_time_sliced_replicas_share_one_gpu(tmp_path: Path) -> None:
    """Issue 12 item 4: three replicas with time_slicing 4 on one T4 said "does not fit"."""
    spec = _stack(tmp_path, 3, "{gpu_product: Tesla-T4, time_slicing: 4}")
    code, report = _plan(tmp_path, spec, _nodes(tmp_path, "Tesla-T4", "16Gi"))
    assert code == 0, report
    assert [p["gpus"] for p in report["placements"]] == [[0], [0], [0]]
    assert report["gpus"][0]["sharing"] == "time-slicing 3/4"


def test_a_time_sliced_gpu_takes_at_most_its_replicas(tmp_path: Path) -> None:
    spec = _stack(tmp_path, 5, "{gpu_product: Tesla-T4, time_slicing: 2}")
    code, report = _plan(tmp_path, spec, _nodes(tmp_path, "Tesla-T4", "16Gi", count=2))
    assert code == 1
    assert [p["gpus"] for p in report["placements"]] == [[0], [0], [1], [1]]
    (unplaced,) = report["unplaced"]
    assert unplaced["reason"] == (
        "needs 1 time-sliced GPU (2 replicas per GPU) on one node; at most 0 left on any node"
    )


def test_time_sliced_replicas_still_share_the_gpus_memory(tmp_path: Path) -> None:
    """Time-slicing shares compute, not memory: 6Gi replicas, three to a 16Gi T4 at most."""
    spec = _stack(tmp_path, 4, "{gpu_product: Tesla-T4, time_slicing: 4}", memory="6Gi")
    code, report = _plan(tmp_path, spec, _nodes(tmp_path, "Tesla-T4", "16Gi"))
    assert code == 1
    assert len(report["placements"]) == 2
    assert report["gpus"][0]["used"] == 12 * GIB


def test_mig_slices_are_counted_by_the_products_table(tmp_path: Path) -> None:
    """Issue 12 item 4: nine 1g.10gb replicas on one A100-80GB were all "placed" by memory;
    the A100-80GB has at most seven 1g.10gb slices."""
    placement = "{gpu_product: NVIDIA-A100-SXM4-80GB, mig_profile: 1g.10gb}"
    spec = _stack(tmp_path, 9, placement, memory="8Gi")
    code, report = _plan(tmp_path, spec, _nodes(tmp_path, "NVIDIA-A100-SXM4-80GB", "80Gi"))
    assert code == 1
    assert len(report["placements"]) == 7
    assert [u["replica"] for u in report["unplaced"]] == ["fraud/v1#7", "fraud/v1#8"]
    assert report["unplaced"][0]["reason"] == (
        "needs 1 MIG 1g.10gb slice(s) on one node; at most 0 left on any node (7 per A100-80GB GPU)"
    )
    assert report["gpus"][0]["sharing"] == "MIG 7x1g.10gb (7/7 compute, 7/8 memory slices)"


def test_a_profile_the_product_lacks_is_reported(tmp_path: Path) -> None:
    spec = _stack(tmp_path, 1, "{mig_profile: 1g.10gb}")
    code, report = _plan(tmp_path, spec, _nodes(tmp_path, "NVIDIA-H200", "141Gi"))
    assert code == 1
    assert report["unplaced"][0]["reason"] == (
        "no GPU offers MIG 1g.10gb (NVIDIA-H200 has 1g.18gb, 1g.35gb, 2g.35gb, 3g.71gb, "
        "4g.71gb, 7g.141gb)"
    )
    code, report = _plan(tmp_path, spec, _nodes(tmp_path, "Tesla-T4", "16Gi"))
    assert report["unplaced"][0]["reason"] == "no GPU offers MIG 1g.10gb (Tesla-T4 has no MIG)"


# The published tables: every profile's instances on an otherwise empty GPU.
MAXIMA = {
    ("NVIDIA-A30", "24Gi"): {"1g.6gb": 4, "2g.12gb": 2, "4g.24gb": 1},
    ("NVIDIA-A100-SXM4-40GB", "40Gi"): {
        "1g.5gb": 7, "1g.10gb": 4, "2g.10gb": 3, "3g.20gb": 2, "4g.20gb": 1, "7g.40gb": 1,
    },
    ("NVIDIA-A100-80GB-PCIe", "80Gi"): {
        "1g.10gb": 7, "1g.20gb": 4, "2g.20gb": 3, "3g.40gb": 2, "4g.40gb": 1, "7g.80gb": 1,
    },
    ("NVIDIA-H100-80GB-HBM3", "80Gi"): {
        "1g.10gb": 7, "1g.20gb": 4, "2g.20gb": 3, "3g.40gb": 2, "4g.40gb": 1, "7g.80gb": 1,
    },
    ("NVIDIA-H100-NVL", "94Gi"): {
        "1g.12gb": 7, "1g.24gb": 4, "2g.24gb": 3, "3g.47gb": 2, "4g.47gb": 1, "7g.94gb": 1,
    },
    ("NVIDIA-H200", "141Gi"): {
        "1g.18gb": 7, "1g.35gb": 4, "2g.35gb": 3, "3g.71gb": 2, "4g.71gb": 1, "7g.141gb": 1,
    },
}  # fmt: skip


def _mig(profile: str, replica: int = 0) -> Demand:
    return Demand("d", "v1", replica, 1, None, None, mig_profile=profile)


@pytest.mark.parametrize(("product", "memory", "profile", "most"), [
    (product, memory, profile, most)
    for (product, memory), profiles in MAXIMA.items()
    for profile, most in profiles.items()
])  # fmt: skip
def test_each_products_mig_table(product: str, memory: str, profile: str, most: int) -> None:
    gpus = [Gpu("n", 0, product, int(memory.removesuffix("Gi")) * GIB)]
    result = plan([_mig(profile, i) for i in range(most + 1)], gpus)
    assert len(result.assignments) == most
    assert len(result.unplaced) == 1


def test_the_tables_cover_every_product_asked_for() -> None:
    assert {g.name for g in MIG_GPUS} == {
        "A30-24GB", "A100-40GB", "A100-80GB", "H100-80GB", "H100-94GB", "H200-141GB",
    }  # fmt: skip
    for g in MIG_GPUS:
        for p in g.profiles:
            # A profile's name states its memory: its share of the GPU's memory slices.
            gb = int(p.name.split(".")[1].removesuffix("gb"))
            assert round(g.memory_slices * gb / g.memory_gb) == p.memory, (g.name, p.name)
            assert int(p.name[0]) == p.compute


@pytest.mark.parametrize(("product", "gib", "expected"), [
    ("NVIDIA-A100-SXM4-80GB", 80, "A100-80GB"),
    ("NVIDIA-A100-PCIE-40GB", 40, "A100-40GB"),
    ("NVIDIA-H100-80GB-HBM3", 80, "H100-80GB"),
    ("NVIDIA-H100-NVL", 94, "H100-94GB"),
    ("NVIDIA-H200", 141, "H200-141GB"),
    ("NVIDIA-A30", 24, "A30-24GB"),
])  # fmt: skip
def test_a_product_label_and_memory_pick_the_table(product: str, gib: int, expected: str) -> None:
    found = mig_gpu(product, gib * GIB)
    assert found is not None and found.name == expected
    assert mig_gpu("Tesla-T4", 16 * GIB) is None


def test_mixed_profiles_share_the_slices() -> None:
    """A100-80GB: 4g.40gb takes 4 of 7 compute and 4 of 8 memory slices; a 3g.40gb still
    fits beside it, a further 1g.10gb does not (no compute slice left)."""
    gpus = [Gpu("n", 0, "NVIDIA-A100-SXM4-80GB", 80 * GIB)]
    result = plan([_mig("4g.40gb", 0), _mig("3g.40gb", 1), _mig("1g.10gb", 2)], gpus)
    assert [a.demand.mig_profile for a in result.assignments] == ["4g.40gb", "3g.40gb"]
    assert [u.demand.mig_profile for u in result.unplaced] == ["1g.10gb"]


def test_a_gpu_is_shared_one_way_only() -> None:
    """Time-slicing is node configuration: a node with a whole-GPU replica takes no
    time-sliced one, and a time-sliced node takes nothing else. MIG is per GPU."""

    def node() -> list[Gpu]:
        return [Gpu("n", i, "NVIDIA-A100-SXM4-80GB", 80 * GIB) for i in range(2)]

    sliced = Demand("t", "v1", 0, 1, None, None, time_slicing=2)
    whole = Demand("w", "v1", 0, 1, None, None)
    result = plan([sliced, _mig("1g.10gb"), whole], node())
    assert [(a.demand.deployment, a.gpus) for a in result.assignments] == [
        ("w", (0,)), ("d", (1,)),
    ]  # fmt: skip
    assert [u.demand.deployment for u in result.unplaced] == ["t"]

    by_memory = Demand("m", "v1", 0, 1, 10 * GIB, None)
    result = plan([sliced, by_memory], node())
    assert [(a.demand.deployment, a.gpus) for a in result.assignments] == [("t", (0,))]
    assert [u.demand.deployment for u in result.unplaced] == ["m"]


def test_a_multi_slice_replica_may_take_slices_of_one_gpu() -> None:
    gpus = [Gpu("n", 0, "NVIDIA-H100-80GB-HBM3", 80 * GIB)]
    pair = Demand("p", "v1", 0, 2, None, None, mig_profile="3g.40gb")
    (placed,) = plan([pair], gpus).assignments
    assert placed.gpus == (0, 0)


@pytest.mark.parametrize(
    ("product", "profile", "offered"),
    [
        ("NVIDIA-H100-80GB-HBM3", "1g.5gb", "1g.10gb, 1g.20gb, 2g.20gb, 3g.40gb, 4g.40gb, 7g.80gb"),
        ("NVIDIA-A100-PCIE-40GB", "1g.20gb", "1g.5gb, 1g.10gb, 2g.10gb, 3g.20gb, 4g.20gb, 7g.40gb"),
        ("NVIDIA-A30", "1g.10gb", "1g.6gb, 2g.12gb, 4g.24gb"),
    ],
)
def test_render_refuses_a_profile_the_product_does_not_have(
    tmp_path: Path, product: str, profile: str, offered: str
) -> None:
    """The pods would ask for ``nvidia.com/mig-{profile}``, which no node of that product ever
    advertises: Pending for good. ``gpu plan`` said so; ``render`` rendered them."""
    spec = _stack(tmp_path, 1, f"{{gpu_product: {product}, mig_profile: {profile}}}")
    result = cli("k8s", "render", spec, "--registry", "r.example.com",
                 "--overlay", tmp_path / "k8s.yaml")  # fmt: skip
    assert result.exit_code == 2, result.output
    assert (
        f"deployment 'fraud': {product} has no MIG profile {profile} (it has {offered})"
    ) in result.stderr


@pytest.mark.parametrize(
    ("product", "profile"),
    [
        ("NVIDIA-A100-SXM4-80GB", "1g.10gb"),
        ("NVIDIA-A100-SXM4-40GB", "1g.10gb"),
        ("NVIDIA-H100-NVL", "1g.12gb"),  # no memory in the label: any H100 table
        ("NVIDIA-H100-NVL", "1g.10gb"),
        ("NVIDIA-B200", "1g.23gb"),  # a product without a table here: not second-guessed
    ],
)
def test_render_takes_a_profile_the_product_has(tmp_path: Path, product: str, profile: str) -> None:
    spec = _stack(tmp_path, 1, f"{{gpu_product: {product}, mig_profile: {profile}}}")
    result = cli("k8s", "render", spec, "--registry", "r.example.com",
                 "--overlay", tmp_path / "k8s.yaml")  # fmt: skip
    assert result.exit_code == 0, result.output
