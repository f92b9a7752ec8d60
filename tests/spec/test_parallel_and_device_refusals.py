"""Settings that would make a replica hold, or need, other GPUs than ``resources.gpu`` asks for.

- vLLM's ``--pipeline-parallel-size``/``-pp`` and ``--data-parallel-size``/``-dp`` (and
  ``--data-parallel-size-local``/``-dpl``) in ``engine_args`` multiply the GPUs one ``vllm
  serve`` uses, beyond the ``--tensor-parallel-size`` inferd sets to ``resources.gpu``: the pod
  requested ``resources.gpu`` GPUs and vLLM failed at start. They are refused at the spec check
  (so ``inferd k8s render`` and ``inferd up`` refuse them), naming what to set instead, as
  ``--tensor-parallel-size`` is.
- ``runtime.device: cpu`` written beside ``resources.gpu`` made a pod that holds GPUs it never
  uses (locally, a replica on the CPU): the two contradict each other and are refused, naming
  both. Left at its default, ``device`` follows the GPUs (``auto``), as before."""

from __future__ import annotations

import pytest

from inferd.spec.loading import SpecError, parse_spec

VLLM = """\
apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: chat
    resources: {gpu: 2}
    llm:
      engine: vllm
      engine_args: ARGS
    versions:
      - {name: base, model: "registry.example/llama:70b"}
"""

CLASSIC = """\
apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: iris
    RUNTIME
    resources: {gpu: 1}
    versions:
      - {name: v1, model: "iris:v1"}
"""


def _problems(document: str) -> list[tuple[int, str]]:
    with pytest.raises(SpecError) as caught:
        parse_spec(document, "inferd.yaml")
    return [(p.line, p.message) for p in caught.value.problems]


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        ("[--pipeline-parallel-size, '2']", "--pipeline-parallel-size"),
        ("[-pp, '2']", "-pp"),
        ("['--pipeline-parallel-size=2']", "--pipeline-parallel-size"),
    ],
)
def test_pipeline_parallelism_is_refused_naming_resources_gpu(args: str, flag: str) -> None:
    problems = _problems(VLLM.replace("ARGS", args))
    assert problems == [
        (
            8,
            f"{flag} would run a replica on more GPUs than resources.gpu (2) requests for its "
            "pod: inferd shards a replica over its resources.gpu GPUs with tensor parallelism "
            "(--tensor-parallel-size is resources.gpu); set resources.gpu to the GPUs one "
            "replica needs",
        )
    ]


@pytest.mark.parametrize(
    "flag", ["--data-parallel-size", "-dp", "--data-parallel-size-local", "-dpl"]
)
def test_data_parallelism_is_refused_naming_replicas(flag: str) -> None:
    [(line, message)] = _problems(VLLM.replace("ARGS", f"[{flag}, '4']"))
    assert line == 8
    assert message.startswith(f"{flag} would run a replica on more GPUs than resources.gpu (2)")
    assert "data parallelism is replicas: set the versions' replicas" in message


def test_other_engine_args_pass() -> None:
    spec = parse_spec(VLLM.replace("ARGS", "[--enable-prefix-caching, -O3]"), "inferd.yaml")
    assert spec.deployments[0].llm is not None
    assert spec.deployments[0].llm.engine_args == ["--enable-prefix-caching", "-O3"]


def test_device_cpu_beside_gpus_is_refused_naming_both() -> None:
    problems = _problems(CLASSIC.replace("RUNTIME", "runtime: {device: cpu}"))
    assert problems == [
        (
            5,
            "device 'cpu' with resources.gpu 1: the replica would hold GPUs it never uses; "
            "set device 'cuda' (or 'auto', or leave it out) to use them, or resources.gpu 0",
        )
    ]


@pytest.mark.parametrize("runtime", ["runtime: {threads: 1}", "runtime: {device: auto}"])
def test_device_left_out_or_auto_beside_gpus_is_taken(runtime: str) -> None:
    spec = parse_spec(CLASSIC.replace("RUNTIME", runtime), "inferd.yaml")
    assert spec.deployments[0].resources.gpu == 1


def test_a_vllm_deployment_that_writes_device_cpu_is_refused_too() -> None:
    document = VLLM.replace("ARGS", "[]").replace(
        "    resources:", "    runtime: {device: cpu}\n    resources:"
    )
    problems = _problems(document)
    assert [line for line, m in problems if "device 'cpu' with resources.gpu 2" in m] == [5]


@pytest.mark.parametrize(
    ("args", "flag", "says"),
    [
        ("[--pipeline_parallel_size, '2']", "--pipeline_parallel_size", "more GPUs"),
        ("['--data_parallel_size=2']", "--data_parallel_size", "more GPUs"),
        ("[--tensor_parallel_size, '4']", "--tensor_parallel_size", "is set by inferd"),
        ("[--served_model_name, x]", "--served_model_name", "is set by inferd"),
        ("[--max_model_len, '99']", "--max_model_len", "is set by inferd"),
    ],
)
def test_vllm_takes_underscores_in_flags_and_so_do_the_checks(
    args: str, flag: str, says: str
) -> None:
    """vLLM's parser reads ``--tensor_parallel_size`` as ``--tensor-parallel-size``: written so,
    a flag passed every check and then won over inferd's own."""
    [(line, message)] = _problems(VLLM.replace("ARGS", args))
    assert line == 8 and message.startswith(f"{flag} ") and says in message, message
