"""External engines as replicas: llama.cpp's ``llama-server`` and vLLM's ``vllm serve``.

A deployment with ``llm.engine: llama-server`` or ``vllm`` runs that engine as its replica
process instead of ``inferd serve``. This module holds what differs per engine: where its
executable comes from (:func:`find_engine`), its command line (:func:`llama_server_command`,
:func:`vllm_command`, pure functions of the spec and the materialised files, so tests check
them against each engine's documented flags), and its readiness path. Supervision — ports,
probing, restarts, draining — is the same as for any replica (:mod:`.replica`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from inferd.card import ModelCard
from inferd.errors import InvalidArgument, Unsupported
from inferd.reference import Reference
from inferd.spec.llm import LlmSpec

ExternalEngine = Literal["llama-server", "vllm"]

#: Where each engine's executable may be named explicitly, before PATH is searched.
ENGINE_ENV: Final[Mapping[ExternalEngine, str]] = {
    "llama-server": "INFERD_LLAMA_SERVER",
    "vllm": "INFERD_VLLM",
}
#: The executable's name on PATH.
ENGINE_EXECUTABLE: Final[Mapping[ExternalEngine, str]] = {
    "llama-server": "llama-server",
    "vllm": "vllm",
}
#: How each engine is obtained, for the error that says it is missing.
_HOW_TO_GET: Final[Mapping[ExternalEngine, str]] = {
    "llama-server": "build it with ./scripts/llama-server, which prints its path",
    "vllm": "pip install vllm, on a machine with a GPU vLLM supports",
}
#: Both engines answer 200 on ``/health`` only once the model is loaded (llama-server answers
#: 503 while loading; ``vllm serve`` opens its port after loading).
HEALTH_PATH: Final = "/health"
#: A sequence's context when the spec sets no ``max_model_len``: the model's trained context,
#: at most this (as inferd's own llama.cpp runtime does), so that a model trained on 128k
#: tokens does not reserve 128k cells per slot.
DEFAULT_MAX_CONTEXT: Final = 4096


def find_engine(engine: ExternalEngine, environ: Mapping[str, str] | None = None) -> str:
    """The engine's executable: the file its ``INFERD_*`` variable names, else its name on
    PATH. Unsupported, naming both places and how to get it, when neither has one."""
    env = os.environ if environ is None else environ
    variable, name = ENGINE_ENV[engine], ENGINE_EXECUTABLE[engine]
    named = env.get(variable)
    if named:
        path = Path(named)
        if path.is_file() and os.access(path, os.X_OK):
            return str(path.resolve())
        raise Unsupported(f"{variable}={named} is not an executable file (engine {engine!r})")
    found = shutil.which(name, path=env.get("PATH"))
    if found is None:
        raise Unsupported(
            f"engine {engine!r} needs the {name} executable: set {variable} to its path or put "
            f"it on PATH ({_HOW_TO_GET[engine]})"
        )
    return found


@dataclass(frozen=True, slots=True)
class EngineModel:
    """What an engine serves, materialised from the store."""

    #: A GGUF file (llama-server; vLLM too), or a Hugging Face directory (vLLM).
    weights: Path
    #: The name requests use (the version's model name: what the gateway writes in ``model``).
    name: str
    #: The model's trained context, when its card says.
    trained_context: int | None = None
    #: For an adapter version: the LoRA adapter applied to ``weights`` (its base's files).
    adapter: Path | None = None
    #: For an adapter version: the base version's model name (vLLM serves the base under it
    #: and the adapter under :attr:`name`).
    base_name: str | None = None


@dataclass(frozen=True, slots=True)
class StoredModel:
    """A version's files as the store materialised them."""

    #: The spec's reference (for messages) and the model name replicas serve.
    reference: str
    name: str
    path: Path
    digest: str
    card: ModelCard


def check_adapter(adapter: StoredModel, base: StoredModel) -> None:
    """InvalidArgument unless ``adapter`` is a LoRA adapter whose card pins ``base``'s bytes
    (``llm.base`` is ``name@sha256:…``, written at push: the digest must be the base's)."""
    llm = adapter.card.llm
    if llm is None or llm.adapter is None or llm.base is None:
        raise InvalidArgument(
            f"{adapter.reference} is not an adapter (its card has no llm.base): adapter_of "
            f"names the base of a LoRA adapter pushed with --base"
        )
    pinned = Reference.parse(llm.base).digest
    if pinned != base.digest:
        raise InvalidArgument(
            f"{adapter.reference} is an adapter over {llm.base}, but adapter_of names "
            f"{base.reference}, which is {base.name}@{base.digest}: push the adapter with "
            f"--base {base.reference}, or name its base's version"
        )


def engine_model(
    engine: ExternalEngine, model: StoredModel, base: StoredModel | None
) -> EngineModel:
    """What ``engine`` serves for ``model`` (over ``base`` for an adapter version): GGUF
    files by path for llama-server, the GGUF file or the Hugging Face directory for vLLM.
    InvalidArgument for files the engine cannot serve."""
    weights = base if base is not None else model
    llm = weights.card.llm
    if llm is None:
        raise InvalidArgument(
            f"{weights.reference} is not a language model (its card has no llm section): "
            f"engine {engine!r} serves language models"
        )
    if llm.format == "gguf":
        path = _entry_file(weights)
    elif engine == "vllm":
        path = weights.path
    else:
        raise InvalidArgument(
            f"{weights.reference} is {llm.format} weights: llama-server serves GGUF files "
            "(convert it with llama.cpp's convert_hf_to_gguf.py, or use engine vllm)"
        )
    adapter = None
    if base is not None:
        adapter = _entry_file(model) if engine == "llama-server" else _peft_dir(model)
    return EngineModel(
        weights=path,
        name=model.name,
        trained_context=llm.context_length or None,
        adapter=adapter,
        base_name=base.name if base is not None else None,
    )


def check_context(llm: LlmSpec, model: StoredModel) -> None:
    """InvalidArgument when the model is not a language model (whatever the engine: its
    ``llm`` settings would do nothing) or ``max_model_len`` is over the context it was trained
    for."""
    card = model.card.llm
    if card is None:
        raise InvalidArgument(
            f"{model.reference} is not a language model (its card has no llm section): a "
            f"deployment's llm section is for language models; remove it to serve {model.reference}"
        )
    trained = card.context_length
    if llm.max_model_len is not None and trained and llm.max_model_len > trained:
        raise InvalidArgument(
            f"llm.max_model_len {llm.max_model_len} is over the context {model.reference} was "
            f"trained for ({trained} tokens)"
        )


#: The file that makes a directory a PEFT adapter, which is what vLLM's ``--lora-modules`` loads.
PEFT_CONFIG: Final = "adapter_config.json"


def _peft_dir(adapter: StoredModel) -> Path:
    """The adapter's directory for vLLM: InvalidArgument unless it is a PEFT adapter (vLLM
    loads ``adapter_config.json`` and its safetensors weights, never a GGUF adapter)."""
    llm = adapter.card.llm
    files = {f.path for f in llm.files} if llm is not None else set()
    if llm is None or llm.format == "gguf" or PEFT_CONFIG not in files:
        what = "a GGUF LoRA adapter" if llm is not None and llm.format == "gguf" else "not PEFT"
        raise InvalidArgument(
            f"{adapter.reference} (adapter_of) is {what}: engine 'vllm' loads a LoRA adapter "
            f"from a PEFT directory ({PEFT_CONFIG} and adapter_model.safetensors); serve a "
            "GGUF adapter with engine 'inferd' or 'llama-server'"
        )
    return adapter.path


def _entry_file(model: StoredModel) -> Path:
    entry = model.card.entrypoint
    if entry is None:
        raise InvalidArgument(f"{model.reference} names no entry point file in its card")
    return model.path / entry


def context_per_sequence(llm: LlmSpec, trained: int | None) -> int:
    """Tokens of context per sequence: ``max_model_len``, else the trained context capped."""
    if llm.max_model_len is not None:
        return llm.max_model_len
    return min(trained or DEFAULT_MAX_CONTEXT, DEFAULT_MAX_CONTEXT)


def llama_server_command(
    executable: str,
    model: EngineModel,
    llm: LlmSpec,
    *,
    threads: int,
    host: str,
    port: int,
) -> list[str]:
    """``llama-server``'s command line (flags of llama.cpp's tools/server/README.md).

    ``--parallel`` slots from ``max_num_seqs``; ``--ctx-size`` is the whole KV cache, which
    llama-server splits evenly between the slots, so it is ``max_model_len`` times the slots
    (llama.cpp rounds each slot's share up to a multiple of 256 and caps it at the trained
    context).
    ``--alias`` makes the version's model name the one it answers to; ``--metrics`` opens its
    Prometheus endpoint. ``threads`` 0 leaves the thread count to llama.cpp.
    """
    slots = llm.max_num_seqs
    context = context_per_sequence(llm, model.trained_context) * slots
    command = [
        executable, "--model", str(model.weights),
        "--host", host, "--port", str(port),
        "--alias", model.name,
        "--parallel", str(slots), "--ctx-size", str(context),
        "--metrics", "--no-webui",
    ]  # fmt: skip
    if model.adapter is not None:
        command += ["--lora", str(model.adapter)]
    if threads > 0:
        command += ["--threads", str(threads)]
    return [*command, *llm.engine_args]


def vllm_command(
    executable: str,
    model: EngineModel,
    llm: LlmSpec,
    *,
    gpus: int,
    host: str,
    port: int,
    trust_code: bool = False,
) -> list[str]:
    """``vllm serve``'s command line (flags of vLLM's CLI reference, ``vllm serve --help``).

    An adapter version serves its base under the base's name and the adapter as a LoRA module
    under the version's own name (``--enable-lora --lora-modules NAME=PATH``), which is the
    name the gateway writes in ``model``. ``gpus`` above 1 shards the model over them
    (``--tensor-parallel-size``). ``trust_code`` (the served base version's ``trust_code``)
    lets the model's own code run (``--trust-remote-code``), as the rendered pod does.
    """
    served = model.base_name if model.adapter is not None and model.base_name else model.name
    command = [
        executable, "serve", str(model.weights),
        "--host", host, "--port", str(port),
        "--served-model-name", served,
        "--max-num-seqs", str(llm.max_num_seqs),
        "--dtype", llm.dtype, "--kv-cache-dtype", llm.kv_cache_dtype,
    ]  # fmt: skip
    if llm.max_model_len is not None:
        command += ["--max-model-len", str(llm.max_model_len)]
    if gpus > 1:
        command += ["--tensor-parallel-size", str(gpus)]
    if model.adapter is not None:
        command += ["--enable-lora", "--lora-modules", f"{model.name}={model.adapter}"]
    if trust_code:
        command.append("--trust-remote-code")
    return [*command, *llm.engine_args]


@dataclass(frozen=True, slots=True)
class EngineLaunch:
    """How an engine replica starts, but for its port (chosen per start)."""

    engine: ExternalEngine
    executable: str
    model: EngineModel
    llm: LlmSpec
    #: llama-server's ``--threads`` (the spec's ``runtime.threads``).
    threads: int = 0
    #: vLLM's GPUs (the spec's ``resources.gpu``).
    gpus: int = 0
    #: vLLM's ``--trust-remote-code``: the served base version's ``trust_code``.
    trust_code: bool = False

    def command(self, host: str, port: int) -> list[str]:
        if self.engine == "llama-server":
            return llama_server_command(
                self.executable, self.model, self.llm, threads=self.threads, host=host, port=port
            )
        return vllm_command(
            self.executable, self.model, self.llm,
            gpus=self.gpus, host=host, port=port, trust_code=self.trust_code,
        )  # fmt: skip
