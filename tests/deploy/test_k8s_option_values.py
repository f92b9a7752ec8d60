"""Option values Kubernetes or a container runtime would refuse — a namespace with a dot, an image
that is no reference, a Prometheus URL KEDA cannot query — are errors naming the option (and the
overlay file), exit 2, not objects the API server refuses or pods that never pull."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from inferd.deploy.k8s_options import DEFAULT_PROMETHEUS_URL, K8sOptions, load_options
from inferd.errors import InvalidArgument

from .conftest import QUICKSTART, QUICKSTART_FLAGS, cli

DIGEST = "sha256:" + "a" * 64
NAMESPACES = ("namespace", "gateway_namespace", "gpu_operator_namespace")


def _overlay(tmp_path: Path, text: str) -> Path:
    overlay = tmp_path / "k8s.yaml"
    overlay.write_text(text, encoding="utf-8")
    return overlay


@pytest.mark.parametrize("field", NAMESPACES)
@pytest.mark.parametrize("value", ["a.b", "ML", "-ml", "ml-", "m_l", "", "a" * 64])
def test_a_namespace_is_a_dns_label(tmp_path: Path, field: str, value: str) -> None:
    overlay = _overlay(tmp_path, f"{field}: '{value}'\n")
    with pytest.raises(InvalidArgument, match="is not a Kubernetes namespace name") as caught:
        load_options(overlay, {})
    assert f"{overlay}:1:1: {field}: " in caught.value.message


@pytest.mark.parametrize("field", NAMESPACES)
@pytest.mark.parametrize("value", ["ml", "team-1", "0", "a" * 63])
def test_a_dns_label_is_a_namespace(tmp_path: Path, field: str, value: str) -> None:
    options = load_options(_overlay(tmp_path, f"{field}: '{value}'\n"), {})
    assert getattr(options, field) == value


@pytest.mark.parametrize("field", ["gateway"])
@pytest.mark.parametrize("value", ["a..b", "a.-b", "a-.b", ".a", "a.", "A", "a_b", "a" * 254])
def test_an_object_name_is_a_dns_subdomain(tmp_path: Path, field: str, value: str) -> None:
    """Each dot-separated label must start and end with a letter or digit (``a..b`` passed)."""
    overlay = _overlay(tmp_path, f"{field}: '{value}'\n")
    with pytest.raises(InvalidArgument, match="is not a Kubernetes object name"):
        load_options(overlay, {})


@pytest.mark.parametrize("field", ["gateway"])
@pytest.mark.parametrize("value", ["inferd", "nvidia", "a.b-c.d", "0", "a" * 253])
def test_a_dns_subdomain_is_an_object_name(tmp_path: Path, field: str, value: str) -> None:
    assert getattr(load_options(_overlay(tmp_path, f"{field}: '{value}'\n"), {}), field) == value


@pytest.mark.parametrize("flag", ["--namespace", "--gateway-namespace"])
def test_a_namespace_flag_with_a_dot_exits_2_naming_it(flag: str) -> None:
    result = cli("k8s", "render", QUICKSTART, "--registry", "registry.example.com", flag, "a.b")
    assert result.exit_code == 2
    assert f"error: {flag}: 'a.b' is not a Kubernetes namespace name" in result.stderr


BAD_IMAGES = [
    "bad image!",
    "a b",
    "",
    "inferd/Server:1",  # upper case is for hosts only
    "/inferd",
    "inferd/",
    "inferd//server",
    "inferd:",
    "inferd:-1",
    "inferd:" + "1" * 129,
    "inferd@sha256:abc",
    "inferd@md5:" + "a" * 32,
    "http://r.example.com/inferd",
    "r.example.com:0/inferd",
    "r.example.com:99999/inferd:1",
    "r.example.com/" + "a" * 250,  # a name over 255 characters
]
GOOD_IMAGES = [
    "inferd",
    "inferd/inferd:0.1.0.dev0",
    "localhost:5000/inferd/server:0.1",
    "Registry.Example.com:65535/x",
    "10.0.0.1:5000/team/inferd:v1_2",
    "r.example.com/a/b_c__d---e.f:V1-gpu",
    f"inferd@{DIGEST}",
    f"r.example.com/inferd:0.1@{DIGEST}",
    "inferd:" + "1" * 128,
]


@pytest.mark.parametrize("field", ["image", "gpu_image"])
@pytest.mark.parametrize("image", BAD_IMAGES)
def test_an_image_that_is_not_a_reference_is_refused(field: str, image: str) -> None:
    flag = f"--{field.replace('_', '-')}"
    with pytest.raises(InvalidArgument, match=f"^{flag}: .* is not an image reference"):
        load_options(None, {field: image})  # type: ignore[misc]


@pytest.mark.parametrize("field", ["image", "gpu_image"])
@pytest.mark.parametrize("image", GOOD_IMAGES)
def test_an_image_reference_is_taken_as_it_is(field: str, image: str) -> None:
    assert getattr(load_options(None, {field: image}), field) == image  # type: ignore[misc]


def test_the_default_images_are_references() -> None:
    options = K8sOptions()
    assert K8sOptions(image=options.image, gpu_image=options.image_for(1)).image_for(1)


def test_an_overlay_image_is_refused_naming_the_file(tmp_path: Path) -> None:
    overlay = _overlay(tmp_path, "image: 'bad image!'\n")
    with pytest.raises(
        InvalidArgument,
        match=f"^{re.escape(str(overlay))}:1:1: image: 'bad image!' is not an image",
    ):
        load_options(overlay, {})


@pytest.mark.parametrize(("flag", "value"), [("--image", "bad image!"), ("--gpu-image", "a b")])
def test_an_image_flag_that_is_no_reference_exits_2_naming_it(flag: str, value: str) -> None:
    result = cli("k8s", "render", QUICKSTART, *QUICKSTART_FLAGS, flag, value)
    assert result.exit_code == 2
    assert f"error: {flag}: {value!r} is not an image reference" in result.stderr


@pytest.mark.parametrize(
    "url",
    [
        "",
        "ftp://x",
        "prometheus:9090",
        "prometheus.monitoring.svc",
        "http://",
        "https:///path",
        "http://x:0",
        "http://x:99999",
        "http://x:port",
        "http://a b:9090",
        "http://x\n",
    ],
)
def test_a_prometheus_url_is_http_with_a_host(url: str) -> None:
    with pytest.raises(InvalidArgument, match=r"^--prometheus-url: .* is not an http"):
        load_options(None, {"prometheus_url": url})


@pytest.mark.parametrize(
    "url", [DEFAULT_PROMETHEUS_URL, "https://p.example.com", "http://10.0.0.1:9090/prom"]
)
def test_an_http_url_is_a_prometheus_url(url: str) -> None:
    assert load_options(None, {"prometheus_url": url}).prometheus_url == url


def test_a_prometheus_url_flag_that_is_not_http_exits_2_naming_it() -> None:
    result = cli("k8s", "render", QUICKSTART, *QUICKSTART_FLAGS, "--prometheus-url", "ftp://x")
    assert result.exit_code == 2
    assert "error: --prometheus-url: 'ftp://x' is not an http:// or https:// URL" in result.stderr


def test_a_bad_flag_is_named_as_the_flag_not_blamed_on_the_overlay(tmp_path: Path) -> None:
    """With an overlay, a bad --namespace was reported as the overlay's (``k8s.yaml:
    namespace: 'ML'…``) although the overlay said ``ml``."""
    overlay = _overlay(tmp_path, "namespace: ml\nplacement: {gpu_product: Tesla-T4}\n")
    result = cli("k8s", "render", QUICKSTART, "--registry", "registry.example.com",
                 "--overlay", overlay, "--namespace", "ML", "--time-slicing", "1")  # fmt: skip
    assert result.exit_code == 2
    assert str(overlay) not in result.stderr
    assert "--namespace: 'ML' is not a Kubernetes namespace name" in result.stderr
    assert "--time-slicing: Input should be greater than or equal to 2" in result.stderr


def test_an_overlay_problem_names_its_line_and_column(tmp_path: Path) -> None:
    overlay = _overlay(
        tmp_path,
        "namespace: ml\ndeployments:\n  fraud:\n    gpu_prodct: Tesla-T4\n"
        "placement:\n  time_slicing: 1\n",
    )
    with pytest.raises(InvalidArgument) as caught:
        load_options(overlay, {"image": "inferd:1"})
    assert caught.value.message == (
        f"{overlay}:6:3: placement.time_slicing: Input should be greater than or equal to 2; "
        f"{overlay}:4:5: deployments.fraud.gpu_prodct: unknown key (did you mean 'gpu_product'?)"
    )


def test_an_unknown_top_key_names_the_keys_there_are(tmp_path: Path) -> None:
    overlay = tmp_path / "inferd.k8s.yaml"
    overlay.write_text("imag: inferd:1\nnothing_like_it: 1\n", encoding="utf-8")
    with pytest.raises(InvalidArgument) as caught:
        load_options(overlay, {})
    assert f"{overlay}:1:1: imag: unknown key (did you mean 'image'?)" in caught.value.message
    assert (
        f"{overlay}:2:1: nothing_like_it: unknown key (known: autoscaler, " in caught.value.message
    )


def test_gpu_pods_of_an_image_pinned_by_digest_need_the_gpu_image_named() -> None:
    """A digest names the CPU image's bytes, which have no '-gpu' variant: GPU pods got the CPU
    image (CPU onnxruntime), so ``device: cuda`` never loaded and ``auto`` ran on the CPU while
    holding the GPU."""
    from .conftest import GPU_OVERLAY, GPU_SPEC

    pinned = f"registry.example.com/inferd:0.6@{DIGEST}"
    result = cli("k8s", "render", GPU_SPEC, "--overlay", GPU_OVERLAY, "--image", pinned)
    assert result.exit_code == 2
    assert "--gpu-image" in result.stderr
    assert pinned in result.stderr
    gpu = f"registry.example.com/inferd:0.6-gpu@{DIGEST[:-1]}b"
    flags = ("--image", pinned, "--gpu-image", gpu)
    result = cli("k8s", "render", GPU_SPEC, "--overlay", GPU_OVERLAY, *flags)
    assert result.exit_code == 0, result.stderr
    images = set(re.findall(r"^\s+image: (\S+)$", result.stdout, re.MULTILINE))
    assert images == {gpu}  # every deployment of this spec has GPUs
