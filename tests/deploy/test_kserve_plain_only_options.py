"""Options that only the plain target reads are refused with ``--target kserve``, as
``--progressive`` is: KServe delivers models through its ``storageUri``, scales with its own
autoscaler and routes through its own ingress, so the flags changed nothing and said nothing."""

from __future__ import annotations

import pytest

from .conftest import QUICKSTART, cli

REGISTRY = "r.example.com/ml"


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--autoscaler", "hpa"),
        ("--model-delivery", "image-volume"),
        ("--prometheus-url", "http://prom.example:9090"),
        ("--gateway", "edge"),
        ("--gateway-namespace", "infra"),
    ],
)
def test_a_plain_target_option_is_refused_with_kserve(flag: str, value: str) -> None:
    result = cli("k8s", "render", QUICKSTART, "--target", "kserve", "--registry", REGISTRY,
                 flag, value)  # fmt: skip
    assert result.exit_code == 2, result.output
    assert f"{flag} is for the plain target" in result.stderr
    assert "KServe" in result.stderr


def test_the_same_options_still_render_on_the_plain_target() -> None:
    result = cli("k8s", "render", QUICKSTART, "--registry", REGISTRY, "--autoscaler", "hpa",
                 "--gateway", "edge", "--gateway-namespace", "infra")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "HorizontalPodAutoscaler" in result.stdout
    assert "name: edge" in result.stdout


def test_kserve_without_them_renders() -> None:
    result = cli("k8s", "render", QUICKSTART, "--target", "kserve", "--registry", REGISTRY)
    assert result.exit_code == 0, result.output
    assert "InferenceService" in result.stdout
