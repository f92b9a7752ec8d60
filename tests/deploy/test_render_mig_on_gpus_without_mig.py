"""A MIG profile on a GPU product that has no MIG at all (T4, L4, A10G, L40S: MIG is an A30,
A100, H100, H200 and newer data-centre feature) would render pods asking for
``nvidia.com/mig-<profile>``, which no node of that product ever advertises: they would stay
Pending. ``render`` and the GPU commands refuse it, naming the product."""

from __future__ import annotations

from pathlib import Path

import pytest

from inferd.errors import InvalidArgument
from inferd.spec.loading import parse_spec

from .conftest import cli, render_with

SPEC = """apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: ranker
    versions: [{name: v1, model: ranker:v1}]
    resources: {gpu: 1}
"""


@pytest.mark.parametrize("product", ["Tesla-T4", "NVIDIA-L4", "NVIDIA-A10G", "NVIDIA-L40S"])
def test_a_mig_profile_on_a_product_without_mig_is_refused(product: str) -> None:
    placement = {"gpu_product": product, "mig_profile": "1g.10gb"}
    with pytest.raises(InvalidArgument, match=rf"{product} has no MIG"):
        render_with(parse_spec(SPEC), registry="r.example.com", placement=placement)


def test_the_gpu_plan_refuses_it_too(tmp_path: Path) -> None:
    spec = tmp_path / "inferd.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    nodes = tmp_path / "nodes.yaml"
    nodes.write_text("nodes:\n  - name: t4\n    gpus: [{product: Tesla-T4, memory: 15Gi}]\n")
    result = cli("gpu", "plan", spec, "--nodes", nodes, "--gpu-product", "Tesla-T4",
                 "--mig-profile", "1g.10gb")  # fmt: skip
    assert result.exit_code == 2
    assert "Tesla-T4 has no MIG" in result.stderr


def test_a_product_not_known_here_is_taken_as_written() -> None:
    placement = {"gpu_product": "NVIDIA-B200", "mig_profile": "1g.23gb"}
    render_with(parse_spec(SPEC), registry="r.example.com", placement=placement)
