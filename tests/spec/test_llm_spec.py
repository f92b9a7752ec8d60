"""The spec's ``llm`` section and ``adapter_of``: an LLM deployment on each engine accepted,
settings an engine would ignore refused at their line, adapters only over a base version."""

from __future__ import annotations

import pytest

from inferd.spec.loading import SpecError, parse_spec

VLLM = """\
apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: support-bot
    runtime: {device: cuda}
    resources: {gpu: 1}
    llm:
      engine: vllm
      max_model_len: 8192
      max_num_seqs: 16
      dtype: bfloat16
      shape: {parameters: 8030261248, layers: 32, kv_heads: 8, head_dim: 128}
    versions:
      - {name: base, model: "registry.example/llama:8b"}
      - {name: support-v3, model: "registry.example/support:v3", adapter_of: base}
    traffic: {weights: {base: 90, support-v3: 10}}
"""


def _problems(document: str) -> list[tuple[int, str]]:
    with pytest.raises(SpecError) as caught:
        parse_spec(document, "inferd.yaml")
    return [(p.line, p.message) for p in caught.value.problems]


def test_a_vllm_deployment_with_an_adapter() -> None:
    deployment = parse_spec(VLLM, "inferd.yaml").deployments[0]
    assert deployment.llm is not None and deployment.llm.shape is not None
    assert (deployment.llm.engine, deployment.llm.max_num_seqs) == ("vllm", 16)
    assert deployment.llm.shape.weight_bits == 16  # bf16 unless said otherwise
    assert deployment.versions[1].adapter_of == "base"


def test_the_default_engine_takes_no_vllm_settings() -> None:
    document = VLLM.replace("engine: vllm", "engine: inferd").replace(
        "      shape:", "      engine_args: [--foo]\n      shape:"
    )
    problems = _problems(document)
    assert any(line == 11 and "dtype is for vllm" in m for line, m in problems), problems
    assert any(line == 12 and "engine_args go to an external engine" in m for line, m in problems)


def test_engine_args_may_not_set_what_inferd_sets() -> None:
    """``--port 9000`` in engine_args won over inferd's own (an engine takes a flag's last
    value): the replica listened where no probe, route or scrape looked."""
    args = "      engine_args: [--port, '9000', --served-model-name=x, --enable-prefix-caching]\n"
    problems = _problems(VLLM.replace("      shape:", args + "      shape:"))
    assert [(line, m) for line, m in problems if "set by inferd" in m] == [
        (12, "--port is set by inferd: inferd chooses where the replica listens"),
        (
            12,
            "--served-model-name is set by inferd: the replica answers to the names inferd "
            "routes by",
        ),
    ], problems
    llama = VLLM.replace("engine: vllm", "engine: llama-server").replace(
        "      dtype: bfloat16\n", ""
    )
    problems = _problems(
        llama.replace("      shape:", "      engine_args: [-c, '512']\n      shape:")
    )
    assert any("-c is set by inferd: set llm.max_model_len" in m for _, m in problems), problems


def test_vllm_needs_a_gpu_and_only_vllm_takes_an_image() -> None:
    document = VLLM.replace("    runtime: {device: cuda}\n    resources: {gpu: 1}\n", "")
    problems = _problems(document)
    assert any("engine 'vllm' serves on GPUs" in m for _, m in problems), problems
    document = VLLM.replace("engine: vllm", "engine: llama-server\n      image: x/y:1").replace(
        "      dtype: bfloat16\n", ""
    )
    assert any("image is the vLLM pod's" in m for _, m in _problems(document))


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        ("vLLM/Server:1", "is not an image reference"),
        ("registry.example:99999/vllm:1", "port 99999 is not a TCP port"),
        ("vllm:tag with space", "is not an image reference"),
        ("[fd00::1:5000/vllm:0.6", "'[fd00::1:5000' is not an IPv6 address in brackets"),
    ],
)
def test_the_vllm_image_is_an_image_reference(image: str, reason: str) -> None:
    document = VLLM.replace("engine: vllm", f"engine: vllm\n      image: {image!r}")
    problems = _problems(document)
    assert any(line == 9 and reason in m for line, m in problems), problems
    image = "reg.example:5000/vllm/vllm:0.6"
    document = VLLM.replace("engine: vllm", f"engine: vllm\n      image: {image}")
    llm = parse_spec(document, "inferd.yaml").deployments[0].llm
    assert llm is not None and llm.image == image


@pytest.mark.parametrize(
    ("adapter_of", "reason"),
    [
        ("nope", "'nope' is not another version of 'support-bot'"),
        ("support-v3", "'support-v3' is not another version"),
    ],
)
def test_an_adapter_names_another_version(adapter_of: str, reason: str) -> None:
    document = VLLM.replace("adapter_of: base", f"adapter_of: {adapter_of}")
    problems = _problems(document)
    assert any(line == 15 and reason in m for line, m in problems), problems


def test_an_adapter_applies_to_a_base_not_to_another_adapter() -> None:
    document = VLLM.replace(
        "    traffic: {weights: {base: 90, support-v3: 10}}\n",
        '      - {name: nested, model: "registry.example/n:v1", adapter_of: support-v3}\n'
        "    traffic: {weights: {base: 90, support-v3: 10, nested: 0}}\n",
    )
    problems = _problems(document)
    assert any("'support-v3' is itself an adapter" in m for _, m in problems), problems


def test_adapters_need_the_llm_section() -> None:
    start, end = VLLM.index("    llm:\n"), VLLM.index("    versions:\n")
    problems = _problems(VLLM[:start] + VLLM[end:])
    assert any("adapter_of needs the deployment's llm section" in m for _, m in problems), problems


def test_the_vllm_image_may_name_an_ipv6_registry_host() -> None:
    image = "[fd00::1]:5000/team/vllm:0.6"
    document = VLLM.replace("engine: vllm", f"engine: vllm\n      image: '{image}'")
    llm = parse_spec(document, "inferd.yaml").deployments[0].llm
    assert llm is not None and llm.image == image


def test_payload_logging_of_a_language_model_is_refused() -> None:
    """The OpenAI relay logs no payload: ``logging:`` on an LLM deployment did nothing."""
    document = VLLM.replace(
        "    traffic:", "    logging: {sink: {file: {path: payloads.jsonl}}}\n    traffic:"
    )
    problems = _problems(document)
    assert any(line == 16 and "would log nothing" in m for line, m in problems), problems


@pytest.mark.parametrize("engine", ["inferd", "llama-server"])
def test_llama_cpp_engines_take_at_most_its_sequences(engine: str) -> None:
    """llama.cpp decodes at most 256 sequences together; more was accepted by the spec and
    failed each replica's start under ``inferd up`` ("could not create a context")."""
    document = (
        VLLM.replace("engine: vllm", f"engine: {engine}")
        .replace("      max_num_seqs: 16\n      dtype: bfloat16\n", "      max_num_seqs: 300\n")
        .replace("    runtime: {device: cuda}\n    resources: {gpu: 1}\n", "")
    )
    assert _problems(document) == [
        (8, f"engine {engine!r} runs llama.cpp, which decodes at most 256 sequences together")
    ]
    assert parse_spec(VLLM.replace("max_num_seqs: 16", "max_num_seqs: 300"), "x").deployments


def test_the_limit_is_the_llama_cpp_librarys() -> None:
    from inferd.config import LLAMA_CPP_MAX_SEQUENCES
    from inferd.runtimes.llamacpp.library import max_sequences

    assert max_sequences() == LLAMA_CPP_MAX_SEQUENCES
