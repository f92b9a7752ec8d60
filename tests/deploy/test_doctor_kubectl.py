"""``inferd doctor --kubectl``: GPU nodes of a live cluster against the spec's GPU pods.

``data/kubectl-nodes.json`` is a ``kubectl get nodes -o json`` document written by hand in the
shape GPU feature discovery (device plugin v0.16) and the MIG manager label nodes: an A100-80GB
node with the mixed MIG strategy (GPU 0 cut into three 1g.10gb slices, GPU 1 whole), a node of
two T4s time-sliced 4 ways (product ``Tesla-T4-SHARED``, 8 allocatable ``nvidia.com/gpu``) and
a CPU node. It was not recorded from a cluster (none is reachable here). The subprocess path runs
a small fake ``kubectl`` on PATH that prints it, and records its arguments.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import orjson
import pytest

from inferd.deploy.cluster_check import check, kubectl_nodes, read_nodes
from inferd.deploy.k8s_options import K8sOptions
from inferd.errors import Unavailable, Unsupported
from inferd.spec.model import Spec

from .conftest import GPU_OVERLAY, GPU_SPEC, HERE, QUICKSTART, cli

FIXTURE = HERE / "data" / "kubectl-nodes.json"


def _nodes() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text("utf-8"))  # type: ignore[no-any-return]


@pytest.fixture
def fake_kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``kubectl`` first on PATH that answers ``get nodes -o json`` with the fixture; the
    file it returns holds the arguments of each call."""
    calls = tmp_path / "calls"
    script = tmp_path / "bin" / "kubectl"
    script.parent.mkdir()
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> "{calls}"\n'
        'case "$*" in\n'
        f'  "get nodes -o json"|"get nodes -o json --context "*) cat "{FIXTURE}" ;;\n'
        '  *) echo "unexpected: $*" >&2; exit 2 ;;\n'
        "esac\n",
        "utf-8",
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ['PATH']}")
    return calls


def test_nodes_report_their_gfd_labels_and_gpu_resources() -> None:
    nodes = {n.name: n for n in read_nodes(_nodes())}
    assert list(nodes) == ["a100-node-1", "t4-node-1", "cpu-node-1"]
    a100 = nodes["a100-node-1"]
    assert a100.gfd == {
        "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB",
        "nvidia.com/gpu.count": "2",
        "nvidia.com/gpu.memory": "81920",
        "nvidia.com/gpu.replicas": "1",
        "nvidia.com/mig.strategy": "mixed",
        "nvidia.com/mig.config": "inferd-a100-node-1",
        "nvidia.com/mig.config.state": "success",
    }
    assert a100.allocatable == {"nvidia.com/gpu": 1, "nvidia.com/mig-1g.10gb": 3}
    assert nodes["t4-node-1"].allocatable == {"nvidia.com/gpu": 8}
    assert nodes["t4-node-1"].gfd["nvidia.com/device-plugin.config"] == "tesla-t4-x4"
    assert not nodes["cpu-node-1"].has_gfd and nodes["cpu-node-1"].allocatable == {}


def test_the_gpu_spec_finds_mig_and_time_slicing_but_no_h100(
    gpu_spec: Spec, gpu_options: K8sOptions
) -> None:
    report = check(read_nodes(_nodes()), gpu_spec, gpu_options)
    by_name = {c.deployment: c for c in report.needs}
    fraud, ranker, embedder = by_name["fraud"], by_name["ranker"], by_name["embedder"]
    assert (fraud.resource, fraud.replicas, fraud.fits, fraud.ok) == (
        "nvidia.com/mig-1g.10gb", 3, {"a100-node-1": 3}, True,
    )  # fmt: skip
    assert (ranker.resource, ranker.replicas, ranker.fits, ranker.ok) == (
        "nvidia.com/gpu", 4, {"t4-node-1": 8}, True,
    )  # fmt: skip
    assert ranker.node_selector["nvidia.com/gpu.product"] == "Tesla-T4-SHARED"
    assert not embedder.ok and embedder.fits == {}
    assert report.missing == [
        "embedder: 1 replica(s) x 2 nvidia.com/gpu: no node is labelled "
        "nvidia.com/gpu.present=true, nvidia.com/gpu.product=NVIDIA-H100-80GB-HBM3 and "
        "nvidia.com/gpu.memory >= 61440 (GPU products labelled: NVIDIA-A100-SXM4-80GB, "
        "Tesla-T4-SHARED)"
    ]


def test_autoscaling_maximum_outgrows_the_time_sliced_slots(
    gpu_spec: Spec, gpu_options: K8sOptions
) -> None:
    # ranker scales to 8 replicas per version: 16 slots wanted, 8 advertised.
    report = check(read_nodes(_nodes()), gpu_spec, gpu_options, "max")
    (ranker,) = [c for c in report.needs if c.deployment == "ranker"]
    assert ranker.replicas == 16
    assert ranker.problem == (
        "ranker: 16 replica(s) x 1 nvidia.com/gpu: the nodes labelled nvidia.com/gpu.present=true, "
        "nvidia.com/gpu.product=Tesla-T4-SHARED, nvidia.com/gpu.replicas=4 hold 8 "
        "(nvidia.com/gpu allocatable: t4-node-1: 8; deployments earlier in the spec counted first)"
    )


def test_a_mig_profile_nobody_advertises_is_explained(gpu_spec: Spec) -> None:
    options = K8sOptions.model_validate(
        {"deployments": {"fraud": {"gpu_product": "NVIDIA-A100-SXM4-80GB",
                                   "mig_profile": "3g.40gb"}}}
    )  # fmt: skip
    report = check(read_nodes(_nodes()), gpu_spec, options)
    (fraud,) = [c for c in report.needs if c.deployment == "fraud"]
    assert fraud.problem is not None
    assert fraud.problem.startswith(
        "fraud: 3 replica(s) x 1 nvidia.com/mig-3g.40gb: the nodes labelled "
        "nvidia.com/gpu.present=true, nvidia.com/gpu.product=NVIDIA-A100-SXM4-80GB "
        "(a100-node-1) advertise no nvidia.com/mig-3g.40gb; "
    )
    assert "mig.strategy mixed" in fraud.problem


def test_deployments_on_the_same_gpus_are_not_counted_twice() -> None:
    spec = Spec.model_validate(
        {
            "apiVersion": "inferd.dev/v1",
            "kind": "Stack",
            "deployments": [
                {"name": n, "versions": [{"name": "v1", "model": f"{n}:v1", "replicas": 5}],
                 "resources": {"gpu": 1}}
                for n in ("first", "second")
            ],
        }
    )  # fmt: skip
    options = K8sOptions.model_validate({"placement": {"gpu_product": "Tesla-T4",
                                                       "time_slicing": 4}})  # fmt: skip
    report = check(read_nodes(_nodes()), spec, options)
    first, second = report.needs
    assert first.ok and first.fits == {"t4-node-1": 8}
    # 5 of the 8 slots went to the first: 3 left for the second's 5.
    assert not second.ok and second.fits == {"t4-node-1": 3}


def test_a_cluster_without_gfd_is_told_to_install_the_operator() -> None:
    document = _nodes()
    document["items"] = [document["items"][2]]
    report = check(read_nodes(document), None, K8sOptions())
    assert report.missing == [
        "no node carries GPU feature discovery labels (nvidia.com/gpu.product): install the "
        "NVIDIA GPU Operator (inferd k8s gpu-operator renders its values)"
    ]


def test_kubectl_is_run_read_only_and_its_output_parsed(fake_kubectl: Path) -> None:
    assert kubectl_nodes("prod")["kind"] == "List"
    assert fake_kubectl.read_text("utf-8").splitlines() == ["get nodes -o json --context prod"]


def test_the_cli_reports_the_cluster_and_exits_1_on_what_is_missing(fake_kubectl: Path) -> None:
    result = cli("doctor", "--kubectl", "--spec", GPU_SPEC, "--overlay", GPU_OVERLAY)
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert "a100-node-1" in out and "mig.strategy=mixed" in out
    assert "nvidia.com/mig-1g.10gb: 3" in out
    assert "cpu-node-1" in out and "none (no GPU feature discovery)" in out
    assert "ok fraud: 3 replica(s) x 1 nvidia.com/mig-1g.10gb" in out
    assert "missing: embedder: 1 replica(s) x 2 nvidia.com/gpu: no node is labelled" in out
    document = orjson.loads(
        cli("doctor", "--kubectl", "--spec", GPU_SPEC, "--overlay", GPU_OVERLAY, "--json").stdout
    )
    assert [n["name"] for n in document["nodes"]] == ["a100-node-1", "t4-node-1", "cpu-node-1"]
    assert [c["deployment"] for c in document["needs"] if c["problem"]] == ["embedder"]
    # A spec without GPU deployments needs nothing from the nodes.
    assert cli("doctor", "--kubectl", "--spec", QUICKSTART).exit_code == 0
    assert fake_kubectl.read_text("utf-8").splitlines() == ["get nodes -o json"] * 3


def test_without_kubectl_the_error_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(Unsupported, match="kubectl is not on PATH"):
        kubectl_nodes()
    result = cli("doctor", "--kubectl")
    assert result.exit_code == 10
    assert "kubectl is not on PATH" in result.stderr


def test_a_failing_kubectl_reports_its_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "kubectl"
    # kubectl logs each retry of a cluster it cannot reach, then says why on its last line.
    retry = "E1207 06:55:50.1 memcache.go:265] could not get current server API group list"
    script.write_text(
        "#!/bin/sh\n"
        + f"echo '{retry}' >&2\n" * 5
        + "echo 'The connection to the server localhost:8080 was refused' >&2\nexit 1\n",
        "utf-8",
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(Unavailable) as caught:
        kubectl_nodes()
    assert caught.value.message == (
        "'kubectl get nodes -o json' failed (exit 1): "
        "The connection to the server localhost:8080 was refused"
    )


def test_cluster_options_without_kubectl_are_refused() -> None:
    result = cli("doctor", "--spec", GPU_SPEC)
    assert result.exit_code != 0
    assert "--spec goes with --kubectl" in result.stderr


def test_the_cluster_check_takes_the_placement_flags_render_takes(fake_kubectl: Path) -> None:
    """Checked with the flags the pods were rendered with: every GPU deployment on whole T4s,
    which the fixture's T4 node (time-sliced: ``Tesla-T4-SHARED``) does not offer."""
    result = cli("doctor", "--kubectl", "--spec", GPU_SPEC, "--gpu-product", "Tesla-T4", "--json")
    assert result.exit_code == 1, result.output
    needs = orjson.loads(result.stdout)["needs"]
    assert [n["deployment"] for n in needs] == ["fraud", "ranker", "embedder"]
    for need in needs:
        assert need["node_selector"]["nvidia.com/gpu.product"] == "Tesla-T4"
        assert "Tesla-T4-SHARED" in need["problem"]
    refused = cli("doctor", "--gpu-product", "Tesla-T4")
    assert refused.exit_code == 2
    assert "--gpu-product goes with --kubectl" in refused.stderr


def test_spec_options_without_a_spec_are_refused(fake_kubectl: Path) -> None:
    """``--overlay`` (or a placement flag) without ``--spec`` checked nodes only and said
    nothing of the deployments the user meant to check."""
    for flags in (("--overlay", GPU_OVERLAY), ("--gpu-product", "Tesla-T4")):
        result = cli("doctor", "--kubectl", *flags)
        assert result.exit_code == 2, result.output
        assert f"{flags[0]} goes with --spec" in result.stderr
    assert not fake_kubectl.exists()  # refused before kubectl ran
