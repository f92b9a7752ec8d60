"""A language-model deployment's ``llm:`` section: which engine serves it, and its shape.

The engine decides what a replica is. ``inferd`` (the default) serves GGUF files in-process on
the ``llamacpp`` runtime; ``llama-server`` and ``vllm`` run an external OpenAI-compatible engine
as the replica process, which inferd starts with the model's files, gates on its health
endpoint, scrapes and drains (docs/llm.md#engines). On Kubernetes, ``vllm`` renders a vLLM pod.

Rendering never reads the store, so what planning and rendering need to know about the model
(its shape, which versions are adapters) is written here rather than read from its card.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from inferd.config import WAITING_SEQS
from inferd.reference import ImageReference
from inferd.spec.types import StrictModel

Engine = Literal["inferd", "llama-server", "vllm"]
Dtype = Literal["auto", "float16", "bfloat16", "float32"]
KvCacheDtype = Literal["auto", "fp8"]


class LlmShape(StrictModel):
    """The model's size and attention shape, as its config declares them (Hugging Face
    ``config.json``: ``num_hidden_layers``, ``num_key_value_heads``, ``head_dim`` or
    ``hidden_size / num_attention_heads``). ``inferd gpu plan`` sizes weights and KV cache
    from them."""

    parameters: int = Field(ge=1, description="weight elements, e.g. 8030261248 for an 8B model")
    layers: int = Field(ge=1, le=1024, description="transformer blocks (num_hidden_layers)")
    kv_heads: int = Field(ge=1, le=1024, description="key/value heads (num_key_value_heads)")
    head_dim: int = Field(ge=1, le=4096, description="dimension of one attention head")
    weight_bits: int = Field(
        default=16,
        ge=2,
        le=32,
        description="bits per weight as stored on the GPU: 16 for bf16/fp16, 8 for fp8/int8, "
        "4 for AWQ/GPTQ int4",
    )


class LlmSpec(StrictModel):
    """How a language model is served: engine, context, concurrency and shape."""

    engine: Engine = Field(
        default="inferd",
        description="inferd: in-process llama.cpp; llama-server or vllm: that OpenAI-compatible "
        "engine runs as the replica process",
    )
    image: ImageReference | None = Field(
        default=None,
        description="engine container image on Kubernetes (default: the pinned vLLM image)",
    )
    max_model_len: int | None = Field(
        default=None,
        ge=16,
        le=10_485_760,
        description="context per sequence, prompt plus generated tokens (default: the model's)",
    )
    max_num_seqs: int = Field(
        default=8, ge=1, le=4096, description="sequences generated at once per replica"
    )
    max_waiting_seqs: int | None = Field(
        default=None,
        ge=WAITING_SEQS[0],
        le=WAITING_SEQS[1],
        description="engine inferd: generations waiting for a slot before more are refused with "
        f"503 (default {WAITING_SEQS[0]}); vLLM and llama-server queue without a bound",
    )
    dtype: Dtype = Field(default="auto", description="weights' dtype in the engine")
    kv_cache_dtype: KvCacheDtype = Field(default="auto", description="KV cache dtype")
    shape: LlmShape | None = Field(
        default=None, description="the model's shape, needed by inferd gpu plan"
    )
    engine_args: list[str] = Field(
        default_factory=list,
        max_length=64,
        description="further command-line arguments passed to the engine as written",
    )


#: The flags inferd writes itself on each external engine's command line (``inferd up``'s
#: replicas and the rendered vLLM pods), and what to set instead. Given again in ``engine_args``
#: they would win (an engine takes a flag's last value), and a replica listening on another
#: port or answering to another name is one that probes, routing and metrics cannot find.
OWNED_FLAGS: dict[Engine, dict[str, str]] = {
    "llama-server": {
        **dict.fromkeys(("--host", "--port"), "inferd chooses where the replica listens"),
        **dict.fromkeys(("--model", "-m", "--lora"), "the version's model and adapter are its"),
        **dict.fromkeys(("--alias", "-a"), "the replica answers to the version's model name"),
        **dict.fromkeys(("--parallel", "-np"), "set llm.max_num_seqs"),
        **dict.fromkeys(("--ctx-size", "-c"), "set llm.max_model_len"),
    },
    "vllm": {
        **dict.fromkeys(("--host", "--port"), "inferd chooses where the replica listens"),
        "--served-model-name": "the replica answers to the names inferd routes by",
        "--max-num-seqs": "set llm.max_num_seqs",
        "--max-model-len": "set llm.max_model_len",
        "--dtype": "set llm.dtype",
        "--kv-cache-dtype": "set llm.kv_cache_dtype",
        **dict.fromkeys(("--tensor-parallel-size", "-tp"), "set resources.gpu"),
        **dict.fromkeys(
            ("--enable-lora", "--lora-modules", "--max-loras"),
            "adapters are versions with adapter_of",
        ),
        "--trust-remote-code": "set trust_code on the version",
    },
}


#: vLLM's flags that multiply the GPUs one ``vllm serve`` uses beyond ``--tensor-parallel-size``
#: (which inferd sets to ``resources.gpu``, the GPUs the pod requests), and what to set instead.
_PIPELINE = (
    "inferd shards a replica over its resources.gpu GPUs with tensor parallelism "
    "(--tensor-parallel-size is resources.gpu); set resources.gpu to the GPUs one replica needs"
)
_DATA = (
    "data parallelism is replicas: set the versions' replicas (or autoscaling), each a pod of "
    "resources.gpu GPUs behind the gateway"
)
MORE_GPU_FLAGS: dict[Engine, dict[str, str]] = {
    "vllm": {
        **dict.fromkeys(("--pipeline-parallel-size", "-pp"), _PIPELINE),
        **dict.fromkeys(
            ("--data-parallel-size", "-dp", "--data-parallel-size-local", "-dpl"), _DATA
        ),
    },
}


def owned_flags(engine: Engine, args: list[str]) -> list[tuple[str, str]]:
    """The flags of ``args`` (``--flag value`` or ``--flag=value``) that inferd sets itself on
    ``engine``'s command line (:data:`OWNED_FLAGS`), with what to set instead."""
    return _flags(engine, OWNED_FLAGS.get(engine, {}), args)


def more_gpu_flags(engine: Engine, args: list[str]) -> list[tuple[str, str]]:
    """The flags of ``args`` that would run one replica of ``engine`` on more GPUs than its
    ``resources.gpu`` (:data:`MORE_GPU_FLAGS`), with what to set instead."""
    return _flags(engine, MORE_GPU_FLAGS.get(engine, {}), args)


def _flags(engine: Engine, known: dict[str, str], args: list[str]) -> list[tuple[str, str]]:
    """The flags of ``args`` among ``known``, as written. vLLM's parser reads underscores in a
    long flag as dashes (``--tensor_parallel_size`` is ``--tensor-parallel-size``)."""
    found = (arg.split("=", 1)[0] for arg in args if arg.startswith("-"))
    named = ((flag, _as_read(engine, flag)) for flag in dict.fromkeys(found))
    return [(flag, known[read]) for flag, read in named if read in known]


def _as_read(engine: Engine, flag: str) -> str:
    """``flag`` as ``engine`` reads it."""
    if engine == "vllm" and flag.startswith("--"):
        return "--" + flag[2:].replace("_", "-")
    return flag
