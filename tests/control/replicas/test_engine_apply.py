"""Applying ``llm`` deployments with the reconciler: an adapter version must be over the base
version it names (checked against its card at apply), and under ``engine: llama-server`` the
adapter's replica is a real llama-server applying it with ``--lora`` over its base's GGUF."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx
import psutil
import pytest

from inferd.config import StoreSettings
from inferd.control.reconciler import Reconciler
from inferd.control.replicas.engines import find_engine
from inferd.control.replicas.supervisor import Supervisor
from inferd.control.replicas.topology import Replica
from inferd.errors import InvalidArgument, Unsupported
from inferd.packaging import push
from inferd.spec.loading import parse_spec
from inferd.store import ModelStore
from llm_files import tiny_adapter, tiny_gguf

from ..conftest import fraud_store

pytestmark = pytest.mark.slow

#: The tiny model's control tokens: banned, so a generation runs to max_tokens.
NO_END = {"263": -100, "264": -100, "265": -100}


def llm_store(root: Path) -> ModelStore:
    """base:v1 and other:v1 (other weights), and support:v3, an adapter pushed over base:v1."""
    store = ModelStore.from_settings(StoreSettings(home=root / "home"))
    push(store, tiny_gguf(root / "base.gguf"), "base:v1")
    push(store, tiny_gguf(root / "other.gguf", seed=5), "other:v1")
    push(store, tiny_adapter(root / "lora.gguf"), "support:v3", base="base:v1")
    return store


def spec(engine: str, base: str) -> str:
    return f"""\
apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: chat
    llm: {{engine: {engine}, max_num_seqs: 2, max_model_len: 256}}
    runtime: {{threads: 1}}
    versions:
      - {{name: base, model: "{base}"}}
      - {{name: support, model: "support:v3", adapter_of: base}}
    traffic: {{weights: {{base: 50, support: 50}}}}
"""


def test_an_adapter_over_another_base_than_its_card_pins_is_refused(tmp_path: Path) -> None:
    store = llm_store(tmp_path)

    async def apply() -> None:
        reconciler = Reconciler(Supervisor(), store, tmp_path / "up", ready_timeout_s=30)
        try:
            await reconciler.apply(parse_spec(spec("inferd", "other:v1")))
        finally:
            await reconciler.shutdown(5)

    with pytest.raises(InvalidArgument) as refused:
        asyncio.run(apply())
    base_digest = store.materialize("base:v1").digest
    other_digest = store.materialize("other:v1").digest
    assert refused.value.message == (
        f"chat/support: support:v3 is an adapter over base@{base_digest}, but adapter_of names "
        f"other:v1, which is other@{other_digest}: push the adapter with --base other:v1, or "
        "name its base's version"
    )


def test_an_llm_section_on_a_model_that_is_not_a_language_model_is_refused(
    tmp_path: Path,
) -> None:
    """Engine ``inferd`` refuses it as llama-server and vLLM do, instead of serving the model
    with its ``llm`` settings doing nothing; nothing starts."""
    store = fraud_store(tmp_path / "home")
    supervisor = Supervisor()
    text = (
        spec("inferd", "fraud:v1")
        .replace('      - {name: support, model: "support:v3", adapter_of: base}\n', "")
        .replace("base: 50, support: 50", "base: 100")
    )

    async def apply() -> None:
        reconciler = Reconciler(supervisor, store, tmp_path / "up", ready_timeout_s=30)
        try:
            await reconciler.apply(parse_spec(text))
        finally:
            await reconciler.shutdown(5)

    with pytest.raises(InvalidArgument) as refused:
        asyncio.run(apply())
    assert refused.value.message == (
        "chat/base: fraud:v1 is not a language model (its card has no llm section): a "
        "deployment's llm section is for language models; remove it to serve fraud:v1"
    )
    assert supervisor.replicas() == []


async def complete(replica: Replica, model: str) -> str:
    body = {"model": model, "prompt": "once upon", "max_tokens": 16, "temperature": 0,
            "logit_bias": NO_END}  # fmt: skip
    async with httpx.AsyncClient(timeout=30, trust_env=False) as client:
        response = await client.post(f"{replica.url}/v1/completions", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["choices"][0]["text"])


def test_llama_server_serves_an_adapter_over_its_base_with_lora(tmp_path: Path) -> None:
    if os.environ.get("CI") != "true":
        try:
            find_engine("llama-server")
        except Unsupported as missing:
            pytest.skip(missing.message)
    store = llm_store(tmp_path)

    async def run() -> tuple[list[str], list[str], str, str]:
        supervisor = Supervisor()
        reconciler = Reconciler(supervisor, store, tmp_path / "up", ready_timeout_s=60)
        try:
            await reconciler.apply(parse_spec(spec("llama-server", "base:v1")))
            route = supervisor.topology.deployments["chat"]
            (base,) = route.versions[0].replicas
            (support,) = route.versions[1].replicas
            commands = [psutil.Process(r.pid).cmdline() for r in (base, support)]  # type: ignore[arg-type]
            return *commands, await complete(base, "base"), await complete(support, "support")
        finally:
            await reconciler.shutdown(5)

    base_cmd, support_cmd, base_text, support_text = asyncio.run(run())
    base_file = store.materialize("base:v1")
    adapter = store.materialize("support:v3")
    weights = str(base_file.path / "base.gguf")
    assert base_cmd[base_cmd.index("--model") + 1] == weights and "--lora" not in base_cmd
    assert support_cmd[support_cmd.index("--model") + 1] == weights  # the base's file
    assert support_cmd[support_cmd.index("--lora") + 1] == str(adapter.path / "lora.gguf")
    assert support_cmd[support_cmd.index("--alias") + 1] == "support"
    assert base_text != support_text  # the adapter changes the answer
