"""Spec settings ``inferd up`` honours that a cluster target has no field for are named in the
object's not-rendered annotation (and so on ``render``'s stderr), never dropped without a word."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inferd.config import BatchingSettings, ServerSettings
from inferd.settings_file import load_settings
from inferd.spec.loading import parse_spec

from .conftest import (
    QUICKSTART,
    QUICKSTART_FLAGS,
    cli,
    of_kind,
    one_deployment,
    render_with,
    validate,
)

REGISTRY = "registry.example.com"
OMITTED = "inferd.dev/not-rendered"


def _omitted(o: dict[str, Any]) -> str:
    return str(o["metadata"].get("annotations", {}).get(OMITTED, ""))


ONE = """name: fraud
versions:
  - {name: v1, model: fraud:v1, replicas: 2}
"""


def test_the_autoscaling_settings_keda_and_the_hpa_lack_are_named() -> None:
    """stable_window, panic mode, the scaling rates and cold_start_timeout are inferd up's
    autoscaler's; the plain target's ScaledObject and HPA have none of them, so a spec that
    sets one is told so on the autoscaler (windows it does render are not named)."""
    timed = ONE + (
        "autoscaling: {metric: concurrency, target: 8, scale_down_window: 10m, "
        "stable_window: 30s, panic_threshold: 3, max_scale_up_rate: 2, cold_start_timeout: 2m}\n"
    )
    for autoscaler, kind in (("keda", "ScaledObject"), ("hpa", "HorizontalPodAutoscaler")):
        (scaler,) = of_kind(
            render_with(one_deployment(timed), registry=REGISTRY, autoscaler=autoscaler), kind
        )
        validate(scaler)
        omitted = _omitted(scaler)
        assert (
            "autoscaling.stable_window, autoscaling.panic_threshold, "
            "autoscaling.max_scale_up_rate, autoscaling.cold_start_timeout:"
        ) in omitted
        assert "scale_down_window" not in omitted
    plain = ONE + "autoscaling: {metric: concurrency, target: 8, scale_down_window: 10m}\n"
    (scaler,) = of_kind(render_with(one_deployment(plain), registry=REGISTRY), "ScaledObject")
    assert _omitted(scaler) == ""


def test_the_autoscaling_settings_are_named_on_stderr(tmp_path: Path) -> None:
    spec = tmp_path / "inferd.yaml"
    deployment = ONE + "autoscaling: {min_replicas: 1, max_replicas: 4, panic_window: 3s}\n"
    spec.write_text(
        "apiVersion: inferd.dev/v1\nkind: Stack\ndeployments:\n  - "
        + deployment.replace("\n", "\n    ")
    )
    result = cli("k8s", "render", spec, "--registry", REGISTRY)
    assert result.exit_code == 0, result.stderr
    assert "note: not rendered: ScaledObject/fraud-v1: autoscaling.panic_window:" in result.stderr


def test_kserve_names_the_rollout_policy_it_does_not_carry_out() -> None:
    """KServe moves a canary's traffic to the canaryTrafficPercent rendered and no further:
    the spec's steps and analysis are not rendered, and both stages say so."""
    for stage in ("canary", "stable"):
        result = cli("k8s", "render", QUICKSTART, *QUICKSTART_FLAGS, "--target", "kserve",
                     "--stage", stage)  # fmt: skip
        assert result.exit_code == 0, result.output
        (line,) = [n for n in result.stderr.splitlines() if "InferenceService/fraud:" in n]
        assert "rollout (canary, steps 10, 25, 50, 100) and its analysis: KServe" in line, stage
    spec = one_deployment(ONE + "rollout: {strategy: blue-green}\n")
    (service,) = of_kind(render_with(spec, registry=REGISTRY, target="kserve"), "InferenceService")
    assert "rollout (blue-green) and its analysis:" in _omitted(service)
    (service,) = of_kind(
        render_with(one_deployment(ONE), registry=REGISTRY, target="kserve"), "InferenceService"
    )
    assert _omitted(service) == ""


def test_kserve_pods_get_the_deployments_server_settings() -> None:
    """The ServingRuntime is shared, so its container had only INFERD_HOME: batching, threads,
    device, timeouts and an LLM's slots and context were dropped without a word. The
    InferenceService's model container carries them (KServe merges it into the runtime's), as
    the plain target's pods have them."""
    spec = one_deployment(
        ONE + "runtime: {threads: 3}\nrequest_timeout: 5s\n"
        "batching: {max_batch_size: 7, max_queue_delay_ms: 2.5, max_queue_size: 99}\n"
    )
    (service,) = of_kind(render_with(spec, registry=REGISTRY, target="kserve"), "InferenceService")
    validate(service)
    env = {e["name"]: e["value"] for e in service["spec"]["predictor"]["model"]["env"]}
    served = load_settings(ServerSettings, environ=env)
    assert served.batching == spec.deployments[0].batching
    assert served.batching != BatchingSettings()
    assert (served.intra_op_threads, served.request_timeout_s) == (3, 5.0)
    llm = one_deployment(
        "name: chat\nversions: [{name: v1, model: chat:v1}]\n"
        "llm: {engine: inferd, max_num_seqs: 4, max_model_len: 2048}\n"
    )
    (service,) = of_kind(render_with(llm, registry=REGISTRY, target="kserve"), "InferenceService")
    env = {e["name"]: e["value"] for e in service["spec"]["predictor"]["model"]["env"]}
    served = load_settings(ServerSettings, environ=env)
    assert (served.llm.max_num_seqs, served.llm.max_model_len) == (4, 2048)


def test_the_shadow_timeout_is_named_on_a_mirroring_route() -> None:
    """gateway.shadow_timeout bounds mirrored requests in inferd up's gateway; a Gateway's
    RequestMirror has no timeout of its own, so a spec that sets it is told so on the routes
    that mirror (and only there; KServe, which does not mirror, already says so)."""
    spec = parse_spec(
        """apiVersion: inferd.dev/v1
kind: Stack
gateway: {shadow_timeout: 500ms}
deployments:
  - name: fraud
    versions:
      - {name: v1, model: "fraud:v1"}
      - {name: v2, model: "fraud:v2"}
    traffic: {weights: {v1: 100}, shadow: v2}
  - name: ranker
    versions: [{name: v1, model: "ranker:v1"}]
"""
    )
    routes = {
        o["metadata"]["name"]: o for o in of_kind(render_with(spec, registry=REGISTRY), "HTTPRoute")
    }
    assert "gateway.shadow_timeout (0.5 s, inferd up" in _omitted(routes["fraud"])
    assert "shadow_timeout" not in _omitted(routes["ranker"])
    unset = parse_spec(
        """apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: fraud
    versions:
      - {name: v1, model: "fraud:v1"}
      - {name: v2, model: "fraud:v2"}
    traffic: {weights: {v1: 100}, shadow: v2}
"""
    )
    (route,) = of_kind(render_with(unset, registry=REGISTRY), "HTTPRoute")
    assert "shadow_timeout" not in _omitted(route)


def test_kserve_names_a_target_it_rounds() -> None:
    """KServe's scaleTarget is a whole number of requests: a fractional target is rounded, and
    the InferenceService says so."""
    spec = one_deployment(ONE + "autoscaling: {metric: concurrency, target: 2.5}\n")
    (service,) = of_kind(render_with(spec, registry=REGISTRY, target="kserve"), "InferenceService")
    assert service["spec"]["predictor"]["scaleTarget"] == 2
    assert "autoscaling.target 2.5: KServe's scaleTarget is a whole number (2)" in _omitted(service)
    whole = one_deployment(ONE + "autoscaling: {metric: concurrency, target: 3}\n")
    (service,) = of_kind(render_with(whole, registry=REGISTRY, target="kserve"), "InferenceService")
    assert _omitted(service) == ""


def test_the_plain_target_suggests_argo_only_for_what_argo_renders() -> None:
    """``--progressive argo`` renders canary policies only: a blue-green or A/B policy was told
    to render with it, which then said it renders canary rollouts only."""
    for strategy in ("blue-green",):
        spec = one_deployment(ONE + f"rollout: {{strategy: {strategy}}}\n")
        (route,) = of_kind(render_with(spec, registry=REGISTRY), "HTTPRoute")
        assert _omitted(route) == (
            f"rollout ({strategy}): the plain target has no progressive delivery; let inferd "
            "up's rollout controller carry it out (--progressive argo renders canary rollouts "
            "only)"
        )
    spec = one_deployment(ONE + "rollout: {strategy: canary, steps: [50, 100]}\n")
    (route,) = of_kind(render_with(spec, registry=REGISTRY), "HTTPRoute")
    assert "render it with --progressive argo" in _omitted(route)
