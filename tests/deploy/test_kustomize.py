"""``inferd k8s render -o DIR`` writes a kustomize base that ``kubectl kustomize`` builds."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from .conftest import GPU_OVERLAY, GPU_SPEC, QUICKSTART, QUICKSTART_FLAGS, cli


def _key(obj: dict[str, object]) -> tuple[str, str]:
    meta = obj["metadata"]
    assert isinstance(meta, dict)
    return str(obj["kind"]), str(meta["name"])


def test_kubectl_kustomize_builds_the_base(tmp_path: Path) -> None:
    base = tmp_path / "base"
    result = cli("k8s", "render", GPU_SPEC, "--overlay", GPU_OVERLAY, "-o", base)
    assert result.exit_code == 0, result.output
    assert "kubectl apply -k" in result.stdout
    built = subprocess.run(
        ["kubectl", "kustomize", str(base)], capture_output=True, text=True, timeout=60, check=True
    )
    stream = cli("k8s", "render", GPU_SPEC, "--overlay", GPU_OVERLAY).stdout
    rendered = {_key(o): o for o in yaml.safe_load_all(stream)}
    from_kustomize = {_key(o): o for o in yaml.safe_load_all(built.stdout)}
    # kustomize sorts objects by kind; the objects themselves must be exactly the rendered ones.
    assert from_kustomize == rendered


def test_the_kustomization_lists_every_file_in_render_order(tmp_path: Path) -> None:
    result = cli("k8s", "render", QUICKSTART, *QUICKSTART_FLAGS, "-o", tmp_path)
    assert result.exit_code == 0, result.output
    kustomization = yaml.safe_load((tmp_path / "kustomization.yaml").read_text("utf-8"))
    files = sorted(p.name for p in tmp_path.iterdir() if p.name != "kustomization.yaml")
    assert sorted(kustomization["resources"]) == files
    assert kustomization["resources"][0] == "deployment-fraud-v1.yaml"
    assert "namespace" not in kustomization


def test_a_directory_with_stale_objects_is_refused(tmp_path: Path) -> None:
    (tmp_path / "deployment-old.yaml").write_text("kind: Deployment\n", encoding="utf-8")
    result = cli("k8s", "render", QUICKSTART, *QUICKSTART_FLAGS, "-o", tmp_path)
    assert result.exit_code == 4
    assert "deployment-old.yaml" in result.stderr
    assert not (tmp_path / "kustomization.yaml").exists()


def test_rendering_again_into_the_same_base_replaces_it(tmp_path: Path) -> None:
    assert cli("k8s", "render", QUICKSTART, *QUICKSTART_FLAGS, "-o", tmp_path).exit_code == 0
    again = cli("k8s", "render", QUICKSTART, *QUICKSTART_FLAGS, "-o", tmp_path)
    assert again.exit_code == 0, again.output


def _aliases(text: str) -> list[str]:
    """The YAML aliases (``*id001``) in ``text``: what kubectl expands but a reader of a
    GitOps diff, a kustomize patch or a grep for a field cannot follow."""
    return [e.anchor for e in yaml.parse(text) if isinstance(e, yaml.AliasEvent)]


def test_objects_sharing_parts_are_written_without_yaml_aliases(tmp_path: Path) -> None:
    """An OpenAI route's rules share one URLRewrite filter; it was dumped as ``&id001`` and
    ``*id001`` instead of written out in each rule."""
    spec = QUICKSTART.parents[1] / "llm" / "inferd.yaml"
    stream = cli("k8s", "render", spec, *QUICKSTART_FLAGS).stdout
    assert "support-bot-openai" in stream
    assert _aliases(stream) == []
    result = cli("k8s", "render", spec, *QUICKSTART_FLAGS, "-o", tmp_path)
    assert result.exit_code == 0, result.output
    for path in tmp_path.iterdir():
        assert _aliases(path.read_text("utf-8")) == [], path.name
