"""Private registries: ``--registry-secret NAME`` (or ``registry_secret`` in the overlay) names a
``kubernetes.io/dockerconfigjson`` Secret that the init containers fetching models read as their
Docker config, and that pulls images from the same registry; KServe gets it as the predictor's
``imagePullSecrets`` (its OCI model is pulled by the kubelet)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from inferd.deploy.k8s_options import K8sOptions, load_options
from inferd.deploy.render import render
from inferd.errors import InvalidArgument
from inferd.spec.loading import parse_spec
from inferd.spec.model import Spec
from inferd.store.remote import RegistrySettings, credentials

from .conftest import validate

REGISTRY = "registry.example.com"


def _spec(llm: bool = False) -> Spec:
    extra = "    resources: {gpu: 1}\n    llm: {engine: vllm}\n" if llm else ""
    return parse_spec(
        "apiVersion: inferd.dev/v1\nkind: Stack\ndeployments:\n"
        f"  - name: chat\n    versions: [{{name: v1, model: 'chat:v1'}}]\n{extra}"
    )


def _pod(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    pod: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return pod


def _options(**more: Any) -> K8sOptions:
    return load_options(None, {"registry": f"{REGISTRY}/ml", "registry_secret": "pull", **more})


@pytest.mark.parametrize("llm", [False, True], ids=["inferd", "vllm"])
def test_the_fetching_init_container_reads_the_secret_as_its_docker_config(
    llm: bool, tmp_path: Path
) -> None:
    objects = render(_spec(llm), _options())
    for o in objects:
        validate(o)
    pod = _pod(objects)
    (volume,) = [v for v in pod["volumes"] if v.get("secret")]
    assert volume["secret"]["secretName"] == "pull"
    (init,) = pod["initContainers"]
    (mount,) = [m for m in init["volumeMounts"] if m["name"] == volume["name"]]
    assert mount["readOnly"] is True
    env = {e["name"]: e["value"] for e in init["env"]}
    # The Secret laid out as the kubelet mounts it: each item's key under its path.
    root = tmp_path / mount["mountPath"].lstrip("/")
    root.mkdir(parents=True)
    auth = base64.b64encode(b"robot:s3cret").decode()
    secret = {".dockerconfigjson": json.dumps({"auths": {REGISTRY: {"auth": auth}}})}
    for item in volume["secret"]["items"]:
        (root / item["path"]).write_text(secret[item["key"]], encoding="utf-8")
    docker_config = tmp_path / env["DOCKER_CONFIG"].lstrip("/")
    settings = RegistrySettings.from_environ({"DOCKER_CONFIG": str(docker_config)})
    found = credentials.lookup(settings.config_file, REGISTRY)
    assert found is not None
    assert (found.username, found.password) == ("robot", "s3cret")
    # Nothing else in the pod reads registry credentials.
    for container in pod["containers"]:
        assert all(m["name"] != volume["name"] for m in container["volumeMounts"])


def test_an_image_from_the_same_registry_is_pulled_with_the_secret() -> None:
    same = render(_spec(), _options(image=f"{REGISTRY}/inferd:1.0"))
    assert _pod(same)["imagePullSecrets"] == [{"name": "pull"}]
    other = render(_spec(), _options(image="docker.io/inferd/inferd:1.0"))
    assert "imagePullSecrets" not in _pod(other)


def test_image_volume_delivery_is_pulled_by_the_kubelet_with_the_secret() -> None:
    objects = render(_spec(), _options(model_delivery="image-volume"))
    assert _pod(objects)["imagePullSecrets"] == [{"name": "pull"}]
    for o in objects:
        validate(o)


@pytest.mark.parametrize("llm", [False, True], ids=["inferd", "vllm"])
def test_kserve_pulls_the_oci_model_with_the_secret(llm: bool) -> None:
    objects = render(_spec(llm), _options(target="kserve"))
    (isvc,) = [o for o in objects if o["kind"] == "InferenceService"]
    assert isvc["spec"]["predictor"]["imagePullSecrets"] == [{"name": "pull"}]
    validate(isvc)


def test_without_a_secret_nothing_changes() -> None:
    pod = _pod(render(_spec(), K8sOptions(registry=REGISTRY)))
    assert "imagePullSecrets" not in pod
    assert not [v for v in pod["volumes"] if v.get("secret")]


def test_a_secret_name_that_kubernetes_refuses_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="--registry-secret: 'Pull_Creds' is not"):
        load_options(None, {"registry_secret": "Pull_Creds"})
