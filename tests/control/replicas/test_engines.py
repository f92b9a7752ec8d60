"""Engine replicas' command lines, files and executables, checked against each engine's
documented flags: llama.cpp's tools/server/README.md and vLLM's ``vllm serve`` CLI reference
(https://docs.vllm.ai/en/stable/cli/serve.html). vLLM cannot be installed here, so its command
line is checked as rendered."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from inferd.card import LlmCard, LlmFile, ModelCard
from inferd.control.replicas.engines import (
    EngineModel,
    StoredModel,
    check_adapter,
    check_context,
    engine_model,
    find_engine,
    llama_server_command,
    vllm_command,
)
from inferd.errors import InvalidArgument, Unsupported
from inferd.spec.llm import LlmSpec

BASE_DIGEST = "sha256:" + "a" * 64
GGUF = LlmCard(format="gguf", architecture="llama", parameters=1, context_length=512)
HF = LlmCard(format="safetensors", architecture="llama", parameters=1, context_length=8192)


def stored(name: str, llm: LlmCard | None, *, entry: str | None = "m.gguf") -> StoredModel:
    card = ModelCard(name=name, runtime="llamacpp", entrypoint=entry, llm=llm)
    return StoredModel(f"{name}:v1", name, Path(f"/store/models/{name}"), BASE_DIGEST, card)


def adapter_card(base: str) -> LlmCard:
    return GGUF.model_copy(update={"adapter": "lora", "base": base})


def pairs(command: list[str]) -> dict[str, str]:
    """``--flag value`` pairs of a command line (flags without a value map to '')."""
    out: dict[str, str] = {}
    for i, word in enumerate(command):
        if word.startswith("--"):
            following = command[i + 1] if i + 1 < len(command) else ""
            out[word] = "" if following.startswith("--") else following
    return out


def test_llama_server_gets_slots_context_per_slot_alias_and_metrics() -> None:
    model = EngineModel(Path("/m/tiny.gguf"), "tiny", trained_context=512)
    llm = LlmSpec(
        engine="llama-server", max_num_seqs=4, max_model_len=256, engine_args=["-fa", "off"]
    )
    command = llama_server_command(
        "/bin/llama-server", model, llm, threads=2, host="127.0.0.1", port=9000
    )
    assert command[0] == "/bin/llama-server"
    assert command[-2:] == ["-fa", "off"]  # engine_args last, as written
    flags = pairs(command)
    assert flags["--model"] == "/m/tiny.gguf"
    assert (flags["--host"], flags["--port"]) == ("127.0.0.1", "9000")
    assert flags["--alias"] == "tiny"
    # the KV cache is split evenly between the slots: 4 slots of 256 tokens
    assert (flags["--parallel"], flags["--ctx-size"]) == ("4", "1024")
    assert flags["--threads"] == "2"
    assert "--metrics" in flags and "--lora" not in flags


def test_llama_server_defaults_to_the_trained_context_at_most_4096() -> None:
    llm = LlmSpec(engine="llama-server")  # 8 slots
    for trained, per_slot in ((512, 512), (131072, 4096), (None, 4096)):
        model = EngineModel(Path("/m.gguf"), "m", trained_context=trained)
        command = llama_server_command("ls", model, llm, threads=0, host="h", port=1)
        assert pairs(command)["--ctx-size"] == str(8 * per_slot)
        assert "--threads" not in command  # 0: llama.cpp's choice


def test_llama_server_applies_an_adapter_with_lora() -> None:
    base, adapter = stored("base", GGUF), stored("support", adapter_card(f"base@{BASE_DIGEST}"))
    model = engine_model("llama-server", adapter, base)
    assert (model.weights, model.adapter) == (base.path / "m.gguf", adapter.path / "m.gguf")
    llm = LlmSpec(engine="llama-server")
    command = llama_server_command("ls", model, llm, threads=0, host="h", port=1)
    assert pairs(command)["--lora"] == str(adapter.path / "m.gguf")
    assert pairs(command)["--alias"] == "support"


def test_vllm_command_line_has_the_documented_flags() -> None:
    llm = LlmSpec(
        engine="vllm", max_num_seqs=64, max_model_len=4096, dtype="bfloat16",
        kv_cache_dtype="fp8", engine_args=["--gpu-memory-utilization", "0.85"],
    )  # fmt: skip
    model = engine_model("vllm", stored("llama", HF, entry=None), None)
    command = vllm_command("/usr/bin/vllm", model, llm, gpus=2, host="127.0.0.1", port=8000)
    assert command[:3] == ["/usr/bin/vllm", "serve", "/store/models/llama"]
    assert pairs(command) == {
        "--host": "127.0.0.1",
        "--port": "8000",
        "--served-model-name": "llama",
        "--max-num-seqs": "64",
        "--dtype": "bfloat16",
        "--kv-cache-dtype": "fp8",
        "--max-model-len": "4096",
        "--tensor-parallel-size": "2",
        "--gpu-memory-utilization": "0.85",
    }


def test_vllm_serves_an_adapter_as_a_lora_module_under_the_version_name() -> None:
    base = stored("llama", HF, entry=None)
    peft = (
        LlmFile(path="adapter_config.json", role="config", format="json"),
        LlmFile(path="adapter_model.safetensors", role="adapter", format="safetensors"),
    )
    card = HF.model_copy(update={"adapter": "lora", "base": f"llama@{BASE_DIGEST}", "files": peft})
    adapter = stored("support", card, entry=None)
    model = engine_model("vllm", adapter, base)
    command = vllm_command("vllm", model, LlmSpec(engine="vllm"), gpus=1, host="h", port=1)
    flags = pairs(command)
    assert command[2] == "/store/models/llama"
    assert flags["--served-model-name"] == "llama"
    assert "--enable-lora" in flags
    assert flags["--lora-modules"] == "support=/store/models/support"
    assert "--max-model-len" not in flags and "--tensor-parallel-size" not in flags


def test_vllm_refuses_a_gguf_adapter_and_serves_a_gguf_model_by_its_file() -> None:
    """A GGUF LoRA adapter's directory went to vLLM's --lora-modules, which loads PEFT
    directories only: the replica failed to start with vLLM's own error."""
    base = stored("llama", GGUF)
    adapter = stored("support", adapter_card(f"llama@{BASE_DIGEST}"), entry="a.gguf")
    with pytest.raises(
        InvalidArgument,
        match=r"support:v1 \(adapter_of\) is a GGUF LoRA adapter: engine 'vllm' loads a LoRA "
        r"adapter from a PEFT directory \(adapter_config\.json",
    ):
        engine_model("vllm", adapter, base)
    assert engine_model("llama-server", adapter, base).adapter == Path(
        "/store/models/support/a.gguf"
    )
    # vLLM's GGUF support loads one .gguf file (not a directory): the entry point's path.
    assert engine_model("vllm", base, None).weights == Path("/store/models/llama/m.gguf")


def test_files_an_engine_cannot_serve_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="llama-server serves GGUF files"):
        engine_model("llama-server", stored("hf", HF, entry=None), None)
    with pytest.raises(InvalidArgument, match="is not a language model"):
        engine_model("vllm", stored("fraud", None), None)


def test_an_adapter_must_pin_the_base_version_it_names() -> None:
    base = stored("base", GGUF)
    check_adapter(stored("a", adapter_card(f"base@{BASE_DIGEST}")), base)  # fits
    other = "sha256:" + "b" * 64
    with pytest.raises(InvalidArgument, match=rf"a:v1 is an adapter over base@{other}, but "
                       rf"adapter_of names base:v1, which is base@{BASE_DIGEST}"):  # fmt: skip
        check_adapter(stored("a", adapter_card(f"base@{other}")), base)
    with pytest.raises(InvalidArgument, match="plain:v1 is not an adapter"):
        check_adapter(stored("plain", GGUF), base)


def test_a_context_over_the_trained_one_is_refused() -> None:
    check_context(LlmSpec(max_model_len=512), stored("m", GGUF))
    with pytest.raises(InvalidArgument, match=r"max_model_len 1024 is over the context m:v1 was "
                       r"trained for \(512 tokens\)"):  # fmt: skip
        check_context(LlmSpec(max_model_len=1024), stored("m", GGUF))


def executable(path: Path) -> Path:
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_the_executable_comes_from_its_variable_then_path(tmp_path: Path) -> None:
    named = executable(tmp_path / "my-llama-server")
    assert find_engine("llama-server", {"INFERD_LLAMA_SERVER": str(named)}) == str(named)
    (tmp_path / "bin").mkdir()
    on_path = executable(tmp_path / "bin" / "vllm")
    assert find_engine("vllm", {"PATH": str(tmp_path / "bin")}) == str(on_path)


def test_a_missing_executable_names_the_variable_and_path(tmp_path: Path) -> None:
    with pytest.raises(Unsupported) as missing:
        find_engine("vllm", {"PATH": str(tmp_path)})
    assert missing.value.message.startswith(
        "engine 'vllm' needs the vllm executable: set INFERD_VLLM to its path or put it on PATH"
    )
    environ = {"INFERD_LLAMA_SERVER": "/nowhere", "PATH": str(tmp_path)}
    with pytest.raises(Unsupported, match="INFERD_LLAMA_SERVER=/nowhere is not an executable"):
        find_engine("llama-server", environ)


def test_vllm_runs_the_model_code_only_of_a_version_that_trusts_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``trust_code: true`` on the served (base) version is vLLM's ``--trust-remote-code``, as in
    the rendered pod; llama-server runs no model code, so it never gets the flag."""
    from inferd.control.reconciler import _engine
    from inferd.spec.loading import parse_spec

    fake = tmp_path / "vllm"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("INFERD_VLLM", str(fake))
    deployment = parse_spec(
        "apiVersion: inferd.dev/v1\nkind: Stack\ndeployments:\n  - name: chat\n"
        "    llm: {engine: vllm}\n    runtime: {device: cuda}\n    resources: {gpu: 1}\n"
        "    versions: [{name: v1, model: 'llama:v1', trust_code: true}]\n"
    ).deployments[0]
    model = stored("llama", HF, entry=None)
    trusted = _engine(deployment, model, None, True)
    assert trusted is not None and "--trust-remote-code" in trusted.command("h", 1)
    untrusted = _engine(deployment, model, None, False)
    assert untrusted is not None and "--trust-remote-code" not in untrusted.command("h", 1)
