"""A language model served by inferd (``llm.engine: inferd``: GGUF on llama.cpp) runs on the CPU:
inferd's llama.cpp is built without CUDA. Pods of such a deployment with ``resources.gpu`` got
the ``-gpu`` image and ``INFERD_DEVICE=auto``, which the CUDA provider of that image resolves to
``cuda``: the runtime refused to load the model and the pods never became ready, holding GPUs.
``render`` and the GPU commands refuse it instead; and the runtime, asked for ``auto``, loads on
the CPU as the other CPU-only runtimes do (a GPU asked for by name is still refused)."""

from __future__ import annotations

from pathlib import Path

import pytest

from inferd.card import ModelCard
from inferd.errors import InvalidArgument, Unsupported
from inferd.runtimes.base import LoadOptions
from inferd.runtimes.llamacpp.runtime import LlamaCppRuntime
from inferd.spec.loading import parse_spec
from llm_files import tiny_gguf

from .conftest import cli, render_with

SPEC = """apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: chat
    versions: [{name: v1, model: qwen-gguf:v1}]
    resources: {gpu: 1}
    llm: {engine: inferd, max_model_len: 4096}
"""


def test_the_runtime_refuses_a_gpu_asked_for_by_name() -> None:
    cuda = LoadOptions(device="cuda")
    with pytest.raises(Unsupported, match="runs on the CPU"):
        LlamaCppRuntime().load(Path("model.gguf"), None, cuda)  # type: ignore[arg-type]


def test_auto_resolved_to_a_gpu_loads_on_the_cpu(tmp_path: Path) -> None:
    # What `inferd serve --device auto` does where onnxruntime has CUDA: auto is cuda. The
    # model loads on the CPU, as sklearn's and lightgbm's do (it was refused).
    auto = LoadOptions(device="cuda", device_auto=True)
    file = tiny_gguf(tmp_path / "tiny.gguf")
    card = ModelCard(name="tiny", runtime="llamacpp", entrypoint=file.name)
    LlamaCppRuntime().load(tmp_path, card, auto).close()


def test_an_inferd_engine_llm_on_gpus_is_refused_by_render() -> None:
    with pytest.raises(InvalidArgument) as refused:
        render_with(parse_spec(SPEC), registry="registry.example.com/llm")
    text = str(refused.value)
    assert "deployment 'chat'" in text and "llama.cpp" in text and "CPU" in text
    assert "resources.gpu" in text and "'vllm'" in text


def test_and_by_gpu_plan(tmp_path: Path) -> None:
    spec = tmp_path / "inferd.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    nodes = tmp_path / "nodes.yaml"
    nodes.write_text("nodes:\n  - name: l4\n    gpus: [{product: NVIDIA-L4, memory: 22Gi}]\n")
    result = cli("gpu", "plan", spec, "--nodes", nodes)
    assert result.exit_code == 2
    assert "llama.cpp" in result.stderr


def test_on_cpus_it_renders() -> None:
    cpu = SPEC.replace("    resources: {gpu: 1}\n", "")
    (deployment, *_) = render_with(parse_spec(cpu), registry="registry.example.com/llm")
    (server,) = deployment["spec"]["template"]["spec"]["containers"]
    assert not server["image"].endswith("-gpu")
