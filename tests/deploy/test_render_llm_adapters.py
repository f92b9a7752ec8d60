"""A language model served by inferd (``llm.engine: inferd``) with an adapter version: the
adapter's pod must hold its base too, since the server loads the adapter over the base it reads
from the same store.

The init containers rendered are run here as a pod would run them (their ``args`` through
``inferd``, the pod's store as ``INFERD_HOME``), against a real registry; an image volume is
the artifact's files, as ``inferd pull`` writes them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from inferd.store import ModelStore
from llm_files import tiny_adapter, tiny_gguf
from store.remote.registry import Registry, start_registry

from .conftest import cli, validate

SPEC = """apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: bot
    llm: {max_num_seqs: 4}
    versions:
      - {name: base, model: "llm:base-1", replicas: 1}
      - {name: tuned, model: "llm:tuned-1", replicas: 1, adapter_of: base}
    traffic: {weights: {base: 50, tuned: 50}}
"""


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with start_registry(tmp_path_factory.mktemp("registry")) as started:
        yield started


@pytest.fixture
def pushed(registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The base and its adapter pushed to ``{registry}/ml``, as a user would before
    rendering; returns that registry prefix."""
    monkeypatch.setenv("INFERD_INSECURE_REGISTRIES", registry.host)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    monkeypatch.setenv("INFERD_HOME", str(tmp_path / "dev"))
    prefix = f"{registry.host}/ml"
    steps = [
        ("push", tiny_gguf(tmp_path / "base.gguf"), "llm:base-1"),
        ("push", tiny_adapter(tmp_path / "tuned.gguf"), "llm:tuned-1", "--base", "llm:base-1"),
        ("tag", "llm:base-1", f"{prefix}/llm:base-1"),
        ("tag", "llm:tuned-1", f"{prefix}/llm:tuned-1"),
    ]
    for step in steps:
        assert cli(*step).exit_code == 0
    return prefix


def _pod(prefix: str, tmp_path: Path, *flags: str) -> dict[str, Any]:
    spec = tmp_path / "inferd.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    result = cli("k8s", "render", spec, "--registry", prefix, *flags)
    assert result.exit_code == 0, result.stderr
    objects = list(yaml.safe_load_all(result.stdout))
    for o in objects:
        validate(o)
    deployment = next(
        o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "bot-tuned"
    )
    pod: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return pod


def _run_inits(pod: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the pod's init containers in order on an empty store; an image volume's mount is a
    directory holding the artifact's files. Returns the store's home."""
    home = tmp_path / "pod"
    volumes = {v["name"]: v for v in pod["volumes"]}
    for init in pod["initContainers"]:
        monkeypatch.setenv("INFERD_HOME", str(tmp_path / "kubelet"))
        args = list(init["args"])
        for mount in init["volumeMounts"]:
            image = volumes[mount["name"]].get("image")
            if image is not None:
                files = tmp_path / mount["name"]
                assert cli("pull", image["reference"], files).exit_code == 0
                args = [str(files) if a == mount["mountPath"] else a for a in args]
        monkeypatch.setenv("INFERD_HOME", str(home))
        result = cli(*args)
        assert result.exit_code == 0, result.stderr
    return home


@pytest.mark.parametrize("delivery", ["init", "image-volume"])
def test_an_adapters_pod_fetches_its_base_before_it(
    delivery: str, pushed: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The adapter's pod fetched the adapter alone: its server exited with "ml/llm:tuned is
    an adapter over llm@sha256:…, which is not in the store: push or pull that base first"
    (and image-volume's ``inferd push`` of the adapter's files was refused: "is a LoRA
    adapter: name the model it applies to with --base")."""
    pod = _pod(pushed, tmp_path, "--model-delivery", delivery)
    assert [c["name"] for c in pod["initContainers"]] == ["fetch-base", "fetch-model"]
    home = _run_inits(pod, tmp_path, monkeypatch)
    served = pod["containers"][0]["args"][1]
    store = ModelStore(home)
    adapter = store.materialize(served)  # what the server loads, then the base its card pins
    assert adapter.card.llm is not None and adapter.card.llm.base is not None
    base = store.materialize(adapter.card.llm.base)
    assert base.card.llm is not None and base.card.llm.adapter is None


def test_a_base_versions_pod_fetches_it_alone(pushed: str, tmp_path: Path) -> None:
    spec = tmp_path / "inferd.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    stream = cli("k8s", "render", spec, "--registry", pushed).stdout
    base = next(o for o in yaml.safe_load_all(stream) if o["metadata"]["name"] == "bot-base")
    inits = base["spec"]["template"]["spec"]["initContainers"]
    assert [c["name"] for c in inits] == ["fetch-model"]


@pytest.mark.parametrize("stage", ["stable", "canary"])
def test_kserve_serves_the_base_and_names_the_adapter(
    stage: str, pushed: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The adapter was the InferenceService's canary (``storageUri`` its artifact alone), and
    the runtime's import of it was refused: "is a LoRA adapter: name the model it applies to
    with --base"."""
    spec = tmp_path / "inferd.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    result = cli(
        "k8s", "render", spec, "--registry", pushed, "--target", "kserve", "--stage", stage
    )
    assert result.exit_code == 0, result.stderr
    service = next(o for o in yaml.safe_load_all(result.stdout) if o["kind"] == "InferenceService")
    validate(service)
    predictor = service["spec"]["predictor"]
    assert predictor["model"]["storageUri"] == f"oci://{pushed}/llm:base-1"
    assert "canaryTrafficPercent" not in predictor
    assert (
        "adapter version 'tuned'" in service["metadata"]["annotations"]["inferd.dev/not-rendered"]
    )
    # What KServe's storage initializer and the runtime's script do with the storageUri.
    files = tmp_path / "mnt-models"
    assert (
        cli("pull", predictor["model"]["storageUri"].removeprefix("oci://"), files).exit_code == 0
    )
    monkeypatch.setenv("INFERD_HOME", str(tmp_path / "kserve-pod"))
    assert cli("push", files, "bot:kserve", "--quiet").exit_code == 0
