"""GPU memory one replica of a language model needs: weights, KV cache and runtime overhead.

``inferd gpu plan`` sizes an LLM deployment from its ``llm:`` section (no model card is read:
planning never touches the store), per GPU of a replica that runs tensor parallel over
``resources.gpu`` GPUs:

- **weights**: ``parameters * weight_bits / 8``, split evenly over the tensor-parallel GPUs;
- **KV cache**: ``2 (K and V) * layers * KV heads * head_dim * max_model_len * max_num_seqs *
  bytes per element`` (2 for fp16/bf16, the engine's ``auto`` for those; 4 when the model runs
  in float32; 1 for fp8). Tensor parallelism splits the KV heads; when there are more GPUs than
  KV heads each GPU keeps one (vLLM replicates a KV head rather than splitting it), so a GPU
  holds ``ceil(KV heads / GPUs)`` heads;
- **runtime overhead**: :data:`OVERHEAD_PER_GPU` (2 GiB) per GPU for the CUDA context and
  cuBLAS/NCCL workspaces (about 0.5-1 GiB), the peak activations of vLLM's profiling forward
  pass and its captured CUDA graphs. It is an allowance, not a measurement: activations grow with
  ``max_num_batched_tokens`` and the hidden size.

vLLM also claims only a fraction of a GPU, ``--gpu-memory-utilization`` ("the fraction of GPU
memory to be used for the model executor", vLLM's ``CacheConfig``), and sizes its KV cache from
what is left of that fraction after weights and the profiling run. So for ``engine: vllm`` the
GPU must hold the sum above divided by that fraction. The default used here is 0.9, vLLM's
default through v0.10 (docs.vllm.ai, v0.10.2 ``CacheConfig``); later releases document 0.92,
so 0.9 errs towards more memory. A value given in ``llm.engine_args`` is used instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from inferd.errors import InvalidArgument
from inferd.spec.llm import LlmShape, LlmSpec
from inferd.spec.model import DeploymentSpec

GIB = 2**30
#: CUDA context, library workspaces, profiled activations and CUDA graphs, per GPU.
OVERHEAD_PER_GPU = 2 * GIB
#: vLLM's default ``--gpu-memory-utilization`` through v0.10 (0.92 in later releases).
VLLM_GPU_MEMORY_UTILIZATION = Fraction(9, 10)
_UTILIZATION_FLAG = "--gpu-memory-utilization"


@dataclass(frozen=True, slots=True)
class LlmMemory:
    """One replica's GPU memory, with the numbers it was computed from."""

    deployment: str
    shape: LlmShape
    max_model_len: int
    max_num_seqs: int
    #: Bytes per KV-cache element.
    kv_bytes: int
    #: GPUs of one replica (``resources.gpu``): the tensor-parallel size.
    tensor_parallel: int
    #: Share of a GPU the engine claims (1 for engines that do not reserve a fraction).
    utilization: Fraction

    @property
    def weights(self) -> int:
        """Bytes of weights of the whole model."""
        return _ceil_div(self.shape.parameters * self.shape.weight_bits, 8)

    @property
    def weights_per_gpu(self) -> int:
        return _ceil_div(self.shape.parameters * self.shape.weight_bits, 8 * self.tensor_parallel)

    @property
    def kv_per_token(self) -> int:
        """KV-cache bytes of one token on all GPUs together."""
        s = self.shape
        return 2 * s.layers * s.kv_heads * s.head_dim * self.kv_bytes

    @property
    def kv_cache(self) -> int:
        """KV-cache bytes of ``max_num_seqs`` sequences of ``max_model_len`` tokens."""
        return self.kv_per_token * self.max_model_len * self.max_num_seqs

    @property
    def kv_heads_per_gpu(self) -> int:
        return math.ceil(self.shape.kv_heads / self.tensor_parallel)

    @property
    def kv_per_gpu(self) -> int:
        s = self.shape
        per_token = 2 * s.layers * self.kv_heads_per_gpu * s.head_dim * self.kv_bytes
        return per_token * self.max_model_len * self.max_num_seqs

    @property
    def used_per_gpu(self) -> int:
        """What the engine holds on each GPU."""
        return self.weights_per_gpu + self.kv_per_gpu + OVERHEAD_PER_GPU

    @property
    def per_gpu(self) -> int:
        """GPU memory each GPU of a replica must have (the used bytes over the claimed share)."""
        return math.ceil(self.used_per_gpu / self.utilization)

    def with_tensor_parallel(self, gpus: int) -> LlmMemory:
        return LlmMemory(
            self.deployment,
            self.shape,
            self.max_model_len,
            self.max_num_seqs,
            self.kv_bytes,
            gpus,
            self.utilization,
        )

    def explain(self) -> list[str]:
        """The arithmetic, one term a line, as ``inferd gpu plan --explain`` prints it."""
        s, tp = self.shape, self.tensor_parallel
        lines = [
            f"{self.deployment}: one replica on {tp} GPU(s) (tensor parallel {tp})",
            f"  weights   {s.parameters:,} parameters x {s.weight_bits} bits / 8"
            f" = {_gib(self.weights)}"
            + (f"; / {tp} GPUs = {_gib(self.weights_per_gpu)} per GPU" if tp > 1 else ""),
            f"  KV cache  2 x {s.layers} layers x {s.kv_heads} KV heads x {s.head_dim} head_dim"
            f" x {self.kv_bytes} B = {self.kv_per_token:,} B per token"
            f"; x {self.max_model_len:,} max_model_len x {self.max_num_seqs} max_num_seqs"
            f" = {_gib(self.kv_cache)}",
        ]
        if tp > 1:
            lines.append(
                f"            {self.kv_heads_per_gpu} of {s.kv_heads} KV heads per GPU"
                f" = {_gib(self.kv_per_gpu)} per GPU"
            )
        lines.append(f"  overhead  {_gib(OVERHEAD_PER_GPU)} per GPU (CUDA context, activations)")
        total = (
            f"  per GPU   {_gib(self.weights_per_gpu)} + {_gib(self.kv_per_gpu)}"
            f" + {_gib(OVERHEAD_PER_GPU)} = {_gib(self.used_per_gpu)}"
        )
        if self.utilization != 1:
            total += (
                f"; / gpu-memory-utilization {float(self.utilization):g}"
                f" = {_gib(self.per_gpu)} of GPU memory"
            )
        lines.append(total)
        return lines


def llm_memory(deployment: DeploymentSpec) -> LlmMemory | None:
    """The memory of one replica of an LLM deployment on GPUs; None for other deployments.

    Raises InvalidArgument when the ``llm`` section lacks what sizing needs.
    """
    llm = deployment.llm
    if llm is None or deployment.resources.gpu == 0:
        return None
    missing = [
        name
        for name, value in (("llm.max_model_len", llm.max_model_len), ("llm.shape", llm.shape))
        if value is None
    ]
    if llm.max_model_len is None or llm.shape is None:
        raise InvalidArgument(
            f"deployment {deployment.name!r}: planning GPU memory for a language model needs "
            f"{' and '.join(missing)} (the KV cache grows with the context, and no model card "
            "is read when planning); e.g. llm: {max_model_len: 8192, shape: {parameters: "
            "8030261248, layers: 32, kv_heads: 8, head_dim: 128}}"
        )
    return LlmMemory(
        deployment.name,
        llm.shape,
        llm.max_model_len,
        llm.max_num_seqs,
        _kv_bytes(llm),
        deployment.resources.gpu,
        gpu_memory_utilization(deployment.name, llm),
    )


def _kv_bytes(llm: LlmSpec) -> int:
    if llm.kv_cache_dtype == "fp8":
        return 1
    # "auto" is the model's dtype.
    return 4 if llm.dtype == "float32" else 2


def gpu_memory_utilization(deployment: str, llm: LlmSpec) -> Fraction:
    """The share of each GPU's memory the engine claims at start: vLLM's
    ``--gpu-memory-utilization`` (from ``llm.engine_args``, else its default); 1 for others."""
    if llm.engine != "vllm":
        return Fraction(1)
    # vLLM's parser reads underscores in a long flag as dashes (--gpu_memory_utilization).
    args = [a.replace("_", "-") if a.startswith("--") else a for a in llm.engine_args]
    value: str | None = None
    for i, arg in enumerate(args):
        if arg == _UTILIZATION_FLAG and i + 1 < len(args):
            value = llm.engine_args[i + 1]
        elif arg.startswith(_UTILIZATION_FLAG + "="):
            value = llm.engine_args[i].split("=", 1)[1]
    if value is None:
        return VLLM_GPU_MEMORY_UTILIZATION
    try:
        share = Fraction(value)
    except ValueError:
        share = Fraction(0)
    if not 0 < share <= 1:
        raise InvalidArgument(
            f"deployment {deployment!r}: llm.engine_args {_UTILIZATION_FLAG} {value!r} is not "
            "a fraction in (0, 1]"
        )
    return share


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _gib(size: int) -> str:
    return f"{size / GIB:.2f} GiB"
