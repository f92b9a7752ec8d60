"""What a vLLM pod serves and how ``vllm serve`` is started: for :mod:`.vllm`'s manifests.

One pod serves a base version and every version that is its LoRA adapter (``adapter_of``), so
the versions split into bases (:func:`bases`), each with its adapters (:func:`adapters`); a
request's ``model`` names a base (:func:`served_names`) or an adapter (:func:`lora_name`).
:func:`vllm_args` is the command line, and :func:`volume_bytes` how large the pod's model files
are, from ``llm.shape``.
"""

from __future__ import annotations

import math

from inferd.deploy.gpu import GpuPod
from inferd.deploy.llm_memory import GIB
from inferd.deploy.objects import workload_name
from inferd.errors import InvalidArgument
from inferd.spec.llm import LlmSpec
from inferd.spec.model import DeploymentSpec, VersionSpec

#: ``vllm serve``'s default port, named ``http`` in the pod.
VLLM_PORT = 8000
#: Where the versions' files are, one directory per version.
MODELS_PATH = "/models"
#: Room on disk for one LoRA adapter: rank-16 adapters of 7B-70B models are tens to hundreds of
#: MB; the shape of an adapter is not in the spec, so each is allowed 1 GiB.
ADAPTER_ALLOWANCE_BYTES = 2**30
#: Headroom over the weights: tokenizer and config files, safetensors headers, filesystem slack.
VOLUME_HEADROOM = 1.10


def engine(deployment: DeploymentSpec) -> str | None:
    """The deployment's ``llm.engine``, or None for a model that is not a language model."""
    return deployment.llm.engine if deployment.llm is not None else None


def check_renderable(deployment: DeploymentSpec) -> None:
    """InvalidArgument for an engine with no Kubernetes rendering (``llama-server``)."""
    if engine(deployment) == "llama-server":
        raise InvalidArgument(
            f"deployment {deployment.name!r}: llm.engine 'llama-server' has no Kubernetes "
            "rendering (no llama.cpp server image carries inferd's model delivery, and its "
            "slots and metrics differ from vLLM's): use engine 'vllm' on GPUs, or 'inferd' "
            "(the same GGUF files in inferd's own pods, on CPUs)"
        )


def llm_of(deployment: DeploymentSpec) -> LlmSpec:
    """The deployment's ``llm`` section (callers check :func:`engine` first)."""
    if deployment.llm is None:
        raise InvalidArgument(f"deployment {deployment.name!r} has no llm section")
    return deployment.llm


def bases(deployment: DeploymentSpec) -> list[VersionSpec]:
    """The versions that run pods (every version that is not an adapter)."""
    return [v for v in deployment.versions if v.adapter_of is None]


def adapters(deployment: DeploymentSpec, base: VersionSpec) -> list[VersionSpec]:
    """The adapter versions served by ``base``'s pods, in spec order."""
    return [v for v in deployment.versions if v.adapter_of == base.name]


def serving(deployment: DeploymentSpec, version: VersionSpec) -> VersionSpec:
    """The version whose pods answer for ``version``: itself, or an adapter's base."""
    if version.adapter_of is None:
        return version
    base = deployment.version(version.adapter_of)
    if base is None:  # the spec's rules make this unreachable
        raise InvalidArgument(f"{version.adapter_of!r} is not a version of {deployment.name!r}")
    return base


def model_dir(version: VersionSpec) -> str:
    return f"{MODELS_PATH}/{version.name}"


def served_names(deployment: DeploymentSpec, base: VersionSpec) -> list[str]:
    """What a request's ``model`` may say to reach ``base``: the deployment's name (what a
    weighted split across base versions needs: every base answers to it) or the version's
    Kubernetes name. An adapter answers to its own Kubernetes name (:func:`lora_name`)."""
    return [deployment.name, workload_name(deployment, base)]


def lora_name(deployment: DeploymentSpec, adapter: VersionSpec) -> str:
    """An adapter's name in ``model``: ``{deployment}-{version}``, unique in the stack."""
    return workload_name(deployment, adapter)


def vllm_args(deployment: DeploymentSpec, base: VersionSpec, gpu: GpuPod) -> list[str]:
    """``vllm serve``'s arguments after ``serve`` (vLLM's CLI reference, ``vllm serve --help``).

    A base version with ``trust_code`` gets ``--trust-remote-code``: vLLM then runs the Python
    code a Hugging Face model directory ships (``auto_map`` in its ``config.json``), which is
    what ``trust_code`` lets a model do.

    ``--tensor-parallel-size`` is the pod's GPU count: vLLM shards the model over every GPU the
    pod gets. Adapters are ``--lora-modules NAME=PATH`` with ``--enable-lora`` and
    ``--max-loras`` (adapters in one batch) set to their number. The adapters' rank is not in
    the spec: vLLM's default ``--max-lora-rank`` (16) applies unless ``engine_args`` sets it.
    """
    llm = llm_of(deployment)
    listen = ["--host", "0.0.0.0", "--port", str(VLLM_PORT)]  # noqa: S104 - the pod's own address
    args = [model_dir(base), *listen, "--served-model-name", *served_names(deployment, base)]
    if llm.max_model_len is not None:
        args += ["--max-model-len", str(llm.max_model_len)]
    args += [
        "--max-num-seqs", str(llm.max_num_seqs),
        "--dtype", llm.dtype,
        "--kv-cache-dtype", llm.kv_cache_dtype,
        "--tensor-parallel-size", str(gpu.gpus),
    ]  # fmt: skip
    if base.trust_code:
        args.append("--trust-remote-code")
    loras = adapters(deployment, base)
    if loras:
        args += ["--enable-lora", "--max-loras", str(len(loras)), "--lora-modules"]
        args += [f"{lora_name(deployment, a)}={model_dir(a)}" for a in loras]
    return [*args, *llm.engine_args]


def unrendered(deployment: DeploymentSpec) -> list[str]:
    """The settings ``deployment`` writes that a vLLM pod has no flag for, as not-rendered notes:
    vLLM sets no time limit on a request. (``batching`` and ``runtime.threads``, which vLLM
    has no use for either, are refused by the spec.) Only fields the spec writes are named, so
    a deployment left at the defaults carries no note.
    """
    notes = []
    if deployment.request_timeout is not None:
        notes.append(
            f"request_timeout ({deployment.request_timeout:g} s): vLLM sets no time limit on a "
            "request; a client's own timeout (or the Gateway's) bounds it"
        )
    return notes


def untrusted_adapters(deployment: DeploymentSpec, base: VersionSpec) -> list[str]:
    """Not-rendered notes for ``base``'s adapters that set ``trust_code``: vLLM loads a LoRA
    adapter's weights and runs none of its code (the base decides ``--trust-remote-code``)."""
    return [
        f"trust_code of adapter version {a.name!r}: vLLM loads a LoRA adapter's weights and "
        f"runs none of its code (its base {base.name!r} decides --trust-remote-code)"
        for a in adapters(deployment, base)
        if a.trust_code
    ]


def volume_bytes(deployment: DeploymentSpec, base: VersionSpec) -> int | None:
    """Bytes the ``models`` volume must hold for ``base`` and its adapters; None without a shape.

    weights = parameters * weight_bits / 8; plus :data:`ADAPTER_ALLOWANCE_BYTES` per adapter;
    times :data:`VOLUME_HEADROOM`; rounded up to whole GiB. E.g. an 8B model (8,030,261,248
    parameters) in bf16 with one adapter: 16,060,522,496 B (14.96 GiB) + 1 GiB = 15.96 GiB,
    * 1.10 = 17.55 GiB, so 18 GiB. The pull's download cache holds the same bytes again.
    """
    shape = llm_of(deployment).shape
    if shape is None:
        return None
    weights = math.ceil(shape.parameters * shape.weight_bits / 8)
    total = weights + ADAPTER_ALLOWANCE_BYTES * len(adapters(deployment, base))
    return math.ceil(total * VOLUME_HEADROOM / GIB) * GIB
