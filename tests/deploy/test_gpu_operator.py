"""``inferd k8s gpu-operator``: the GPU Operator's Helm values, the device plugin's time-slicing
ConfigMap and the MIG manager's mig-parted config, from the spec's placements and the plan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from inferd.deploy.gpu_capacity import Gpu
from inferd.deploy.gpu_operator import (
    MIG_PARTED_CONFIGMAP,
    MIG_PARTED_KEY,
    OperatorSetup,
    operator_setup,
)
from inferd.deploy.gpu_plan import load_nodes
from inferd.deploy.k8s_options import K8sOptions, Placement
from inferd.deploy.mig import mig_gpu
from inferd.deploy.render import render
from inferd.errors import InvalidArgument
from inferd.spec.model import Spec

from .conftest import GPU_OVERLAY, GPU_SPEC, HERE, NODES, QUICKSTART, cli, validate

GIB = 2**30
KEYS = yaml.safe_load((HERE / "data" / "gpu-operator-values.keys.yaml").read_text("utf-8"))
_TYPES = {"boolean": bool, "string": str, "object": dict, "list": list, "integer": int}


def _leaves(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted paths of the values' leaves; a documented ``object`` key is a leaf too."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and KEYS["keys"].get(path) != "object":
            out.update(_leaves(value, f"{path}."))
        else:
            out[path] = value
    return out


def assert_documented(values: dict[str, Any]) -> None:
    """Every key written is one the chart documents, with a value of its type."""
    for path, value in _leaves(values).items():
        assert path in KEYS["keys"], f"{path} is not a documented gpu-operator value"
        assert isinstance(value, _TYPES[KEYS["keys"][path]]), path
        if path in KEYS["enums"]:
            assert value in KEYS["enums"][path], path


def _mig_configs(setup: OperatorSetup) -> dict[str, Any]:
    (configmap,) = [o for o in setup.objects if o["metadata"]["name"] == MIG_PARTED_CONFIGMAP]
    document = yaml.safe_load(configmap["data"][MIG_PARTED_KEY])
    assert document["version"] == "v1"
    return document["mig-configs"]  # type: ignore[no-any-return]


def test_the_gpu_spec_gets_mixed_mig_time_slicing_and_dcgm(
    gpu_spec: Spec, gpu_options: K8sOptions
) -> None:
    setup = operator_setup(gpu_spec, gpu_options, load_nodes(NODES), scale="replicas")
    assert_documented(setup.values)
    values = setup.values
    assert values["mig"] == {"strategy": "mixed"}
    assert values["migManager"]["config"] == {
        "create": False, "name": "inferd-mig-parted-config", "default": "all-disabled",
    }  # fmt: skip
    assert values["devicePlugin"]["config"] == {
        "create": False, "name": "inferd-device-plugin-config",
    }  # fmt: skip
    assert values["dcgmExporter"]["enabled"] is True
    assert values["dcgmExporter"]["serviceMonitor"]["enabled"] is True
    assert values["driver"] == {"enabled": True} and values["toolkit"] == {"enabled": True}
    for o in setup.objects:
        validate(o)
        assert o["metadata"]["namespace"] == "gpu-operator"
    assert [label.command() for label in setup.labels] == [
        "kubectl label node t4-node --overwrite nvidia.com/device-plugin.config=tesla-t4-x4",
        "kubectl label node a100-node --overwrite nvidia.com/mig.config=inferd-a100-node",
    ]


def test_the_time_slicing_configmap_is_the_one_render_emits(
    gpu_spec: Spec, gpu_options: K8sOptions
) -> None:
    setup = operator_setup(gpu_spec, gpu_options, load_nodes(NODES), scale="replicas")
    (ours,) = [o for o in setup.objects if o["metadata"]["name"] == "inferd-device-plugin-config"]
    (rendered,) = [
        o for o in render(gpu_spec, gpu_options)
        if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "inferd-device-plugin-config"
    ]  # fmt: skip
    assert ours == rendered
    config = yaml.safe_load(ours["data"]["tesla-t4-x4"])
    assert config["sharing"]["timeSlicing"]["resources"] == [
        {"name": "nvidia.com/gpu", "replicas": 4}
    ]


def test_the_mig_layout_is_the_plans_per_node(gpu_spec: Spec, gpu_options: K8sOptions) -> None:
    # fraud: 3 replicas of a 1g.10gb slice; the plan puts all three on a100-node's GPU 0.
    configs = _mig_configs(operator_setup(gpu_spec, gpu_options, load_nodes(NODES),
                                          scale="replicas"))  # fmt: skip
    assert configs == {
        "all-disabled": [{"devices": "all", "mig-enabled": False}],
        "inferd-a100-node": [
            {"devices": [0], "mig-enabled": True, "mig-devices": {"1g.10gb": 3}},
            {"devices": [1], "mig-enabled": False},
        ],
    }


def _spec(*deployments: dict[str, Any]) -> Spec:
    return Spec.model_validate(
        {"apiVersion": "inferd.dev/v1", "kind": "Stack", "deployments": list(deployments)}
    )


def _gpu_deployment(name: str, replicas: int, **llm: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": name,
        "versions": [{"name": "v1", "model": f"{name}:v1", "replicas": replicas}],
        "runtime": {"device": "cuda"},
        "resources": {"gpu": 1},
    }
    if llm:
        out["llm"] = {"engine": "vllm", **llm}
    return out


def test_mixed_profiles_share_gpus_and_every_layout_fits_its_mig_table() -> None:
    # 2 x 3g.40gb (an 8B LLM sized at 36.6 GiB) and 5 x 1g.10gb on two A100-80GB: the LLM
    # slices go first (largest), filling GPU 0 (6/7 compute, 8/8 memory); the 1g.10gb go on
    # GPU 1.
    spec = _spec(
        _gpu_deployment(
            "chat", 2, max_model_len=8192, max_num_seqs=16,
            shape={"parameters": 8_030_261_248, "layers": 32, "kv_heads": 8, "head_dim": 128},
        ),
        _gpu_deployment("small", 5),
    )  # fmt: skip
    a100 = "NVIDIA-A100-SXM4-80GB"
    options = K8sOptions(
        deployments={
            "chat": Placement(gpu_product=a100, mig_profile="3g.40gb"),
            "small": Placement(gpu_product=a100, mig_profile="1g.10gb"),
        }
    )
    gpus = [Gpu("gpu-1", i, a100, 80 * GIB) for i in range(3)]
    setup = operator_setup(spec, options, gpus, scale="replicas")
    assert_documented(setup.values)
    layout = _mig_configs(setup)["inferd-gpu-1"]
    assert layout == [
        {"devices": [0], "mig-enabled": True, "mig-devices": {"3g.40gb": 2}},
        {"devices": [1], "mig-enabled": True, "mig-devices": {"1g.10gb": 5}},
        {"devices": [2], "mig-enabled": False},
    ]
    table = mig_gpu(a100, 80 * GIB)
    assert table is not None
    for entry in layout:
        profiles = [(table.profile(n), k) for n, k in entry.get("mig-devices", {}).items()]
        assert all(p is not None and k <= p.instances for p, k in profiles)
        assert sum(p.compute * k for p, k in profiles if p) <= table.compute_slices
        assert sum(p.memory * k for p, k in profiles if p) <= table.memory_slices


def test_gpus_with_the_same_layout_are_listed_together() -> None:
    spec = _spec(_gpu_deployment("small", 14))
    a100 = "NVIDIA-A100-SXM4-80GB"
    options = K8sOptions(placement=Placement(gpu_product=a100, mig_profile="1g.10gb"))
    gpus = [Gpu("n", i, a100, 80 * GIB) for i in range(3)]
    layout = _mig_configs(operator_setup(spec, options, gpus, scale="replicas"))["inferd-n"]
    assert layout == [
        {"devices": [0, 1], "mig-enabled": True, "mig-devices": {"1g.10gb": 7}},
        {"devices": [2], "mig-enabled": False},
    ]


def test_a_long_node_name_gets_a_config_name_that_fits_a_label_value() -> None:
    node = "ip-10-0-12-34.eu-west-1.compute.internal-with-a-much-longer-suffix"
    spec = _spec(_gpu_deployment("small", 1))
    a100 = "NVIDIA-A100-SXM4-80GB"
    options = K8sOptions(placement=Placement(gpu_product=a100, mig_profile="1g.10gb"))
    setup = operator_setup(spec, options, [Gpu(node, 0, a100, 80 * GIB)], scale="replicas")
    (label,) = setup.labels
    assert len(label.value) <= 63 and label.value.startswith("inferd-ip-10-0-12-34")
    assert label.value in _mig_configs(setup)


def test_without_mig_the_strategy_stays_single_and_the_mig_manager_off(
    gpu_spec: Spec,
) -> None:
    options = K8sOptions(deployments={"ranker": Placement(time_slicing=4)})
    setup = operator_setup(gpu_spec, options, driver=False, toolkit=False)
    assert_documented(setup.values)
    assert setup.values["mig"] == {"strategy": "single"}
    assert setup.values["migManager"] == {"enabled": False}
    assert setup.values["driver"] == {"enabled": False}
    assert setup.values["toolkit"] == {"enabled": False}
    assert [o["metadata"]["name"] for o in setup.objects] == ["inferd-device-plugin-config"]
    # Without the nodes file the keys are named, not the nodes.
    assert setup.notes == [
        "label each time-sliced node nvidia.com/device-plugin.config=<key> (keys: any-x4); "
        "with --nodes the labels are listed per node"
    ]


def test_a_cpu_only_spec_still_gets_the_operator_with_dcgm(quickstart: Spec) -> None:
    setup = operator_setup(quickstart, K8sOptions())
    assert_documented(setup.values)
    assert setup.objects == [] and setup.labels == []
    assert "config" not in setup.values["devicePlugin"]


def test_mig_without_the_nodes_file_is_refused(gpu_spec: Spec, gpu_options: K8sOptions) -> None:
    with pytest.raises(InvalidArgument, match=r"MIG slices.*pass --nodes"):
        operator_setup(gpu_spec, gpu_options)


def test_replicas_that_do_not_fit_are_refused(gpu_spec: Spec, gpu_options: K8sOptions) -> None:
    # At autoscaling's maximum (the default) ranker's 16 time-sliced replicas outgrow the
    # two T4s' 8 slots.
    with pytest.raises(InvalidArgument, match=r"8 GPU replica\(s\) at max scale do not fit"):
        operator_setup(gpu_spec, gpu_options, load_nodes(NODES))


def test_a_misspelt_key_would_fail_the_documented_keys_check() -> None:
    with pytest.raises(AssertionError, match=r"dcgmExporter\.serviceMonitor\.enable is not"):
        assert_documented({"dcgmExporter": {"serviceMonitor": {"enable": True}}})
    with pytest.raises(AssertionError, match=r"mig\.strategy"):
        assert_documented({"mig": {"strategy": "mixd"}})


def test_the_cli_writes_values_and_configmaps(tmp_path: Path) -> None:
    out = tmp_path / "gpu-operator"
    result = cli("k8s", "gpu-operator", GPU_SPEC, "--overlay", GPU_OVERLAY, "--nodes", NODES,
                 "--scale", "replicas", "--no-driver", "-o", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "configmap-inferd-device-plugin-config.yaml",
        "configmap-inferd-mig-parted-config.yaml",
        "values.yaml",
    ]
    values = yaml.safe_load((out / "values.yaml").read_text("utf-8"))
    assert_documented(values)
    assert values["driver"] == {"enabled": False}
    for name in ("configmap-inferd-device-plugin-config.yaml",
                 "configmap-inferd-mig-parted-config.yaml"):  # fmt: skip
        validate(yaml.safe_load((out / name).read_text("utf-8")))
    assert "nvidia.com/mig.config=inferd-a100-node" in result.stderr
    streamed = cli("k8s", "gpu-operator", QUICKSTART)
    assert streamed.exit_code == 0, streamed.output
    (only,) = list(yaml.safe_load_all(streamed.stdout))
    assert only["dcgmExporter"]["serviceMonitor"]["enabled"] is True
