"""A deployment's ``rollout:`` on a cluster: named when dropped, handed to Argo Rollouts with
``--progressive argo``, and the two steps of a canary (``--stage``) on KServe and Argo."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from inferd.errors import InvalidArgument
from inferd.spec.loading import parse_spec
from inferd.spec.model import Spec

from .conftest import QUICKSTART, QUICKSTART_FLAGS, cli, render_with, validate

REGISTRY = "registry.example.com"


def _render(*flags: str) -> tuple[list[dict[str, Any]], str]:
    result = cli("k8s", "render", QUICKSTART, *QUICKSTART_FLAGS, *flags)
    assert result.exit_code == 0, result.output
    objects = list(yaml.safe_load_all(result.stdout))
    for o in objects:
        validate(o)
    return objects, result.stderr


def _named(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def _one(body: str) -> Spec:
    """A spec whose one deployment is ``body`` (YAML under ``- name: fraud``)."""
    lines = "\n".join(f"    {line}" for line in body.strip().splitlines())
    return parse_spec(
        f"apiVersion: inferd.dev/v1\nkind: Stack\ndeployments:\n  - name: fraud\n{lines}\n"
    )


def _server(pod: dict[str, Any]) -> list[str]:
    (server,) = pod["spec"]["containers"]
    return list(server["args"][:2])


def test_the_plain_target_says_it_does_not_render_the_rollout() -> None:
    """Issue 12 item 12: the plain render dropped ``rollout:`` without a word."""
    _, stderr = _render()
    assert (
        "note: not rendered: HTTPRoute/fraud: rollout (canary, steps 10, 25, 50, 100): the "
        "plain target has no progressive delivery; render it with --progressive argo"
    ) in stderr


def test_argo_rolls_the_candidate_out_over_the_main_version() -> None:
    objects, stderr = _render("--progressive", "argo")
    assert "Deployment" not in {o["kind"] for o in objects if o["metadata"]["name"] == "fraud-v1"}
    assert set(_named(objects, "Deployment")) == {"fraud-v2-shadow"}
    rollout = _named(objects, "Rollout")["fraud-v1"]
    # The candidate's model, in the main version's workload (its Service and budget pick it).
    assert _server(rollout["spec"]["template"]) == ["serve", "fraud:v2"]
    assert rollout["spec"]["template"]["metadata"]["labels"]["inferd.dev/version"] == "v1"
    assert "replicas" not in rollout["spec"]  # the ScaledObject owns it
    canary = rollout["spec"]["strategy"]["canary"]
    assert (canary["stableService"], canary["canaryService"]) == ("fraud-v1", "fraud-v1-canary")
    assert canary["trafficRouting"] == {"plugins": {"argoproj-labs/gatewayAPI": {
        "httpRoute": "fraud", "namespace": "ml"}}}  # fmt: skip
    assert canary["steps"] == [
        {"setWeight": 10}, {"pause": {"duration": "60s"}},
        {"setWeight": 25}, {"pause": {"duration": "60s"}},
        {"setWeight": 50}, {"pause": {"duration": "60s"}},
    ]  # fmt: skip
    assert canary["analysis"] == {"templates": [{"templateName": "fraud-v1"}]}
    assert set(_named(objects, "Service")) == {"fraud-v1", "fraud-v1-canary", "fraud-v2-shadow"}
    scaler = _named(objects, "ScaledObject")["fraud-v1"]
    assert scaler["spec"]["scaleTargetRef"] == {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "fraud-v1"}  # fmt: skip
    split = _named(objects, "HTTPRoute")["fraud"]["spec"]["rules"][-1]
    assert [(b["name"], b["weight"]) for b in split["backendRefs"]] == [
        ("fraud-v1", 100), ("fraud-v1-canary", 0)]  # fmt: skip
    assert split["filters"][0]["requestMirror"]["backendRef"]["name"] == "fraud-v2-shadow"
    assert "Rollout/fraud-v1: the Rollout rolls 'v2' out over 'v1'" in stderr
    assert "apply --stage stable first" in stderr


def test_the_analysis_measures_the_canary_service() -> None:
    objects, stderr = _render("--progressive", "argo")
    template = _named(objects, "AnalysisTemplate")["fraud-v1"]
    metrics = {m["name"]: m for m in template["spec"]["metrics"]}
    assert set(metrics) == {"error-rate", "latency-p99"}
    errors = metrics["error-rate"]
    assert errors["interval"] == "60s"
    assert errors["failureLimit"] == 2  # failure_limit 3: the third failure aborts
    assert errors["successCondition"] == "result[0] <= 0.01"
    assert errors["failureCondition"] == "result[0] > 0.01"
    query = errors["provider"]["prometheus"]["query"]
    assert 'inferd_requests_total{namespace="ml",service="fraud-v1-canary",' in query
    assert 'outcome=~"error|deadline|unavailable"' in query
    # Fewer than min_requests (100) requests: NaN, which is inconclusive.
    assert query.endswith(">= 100) or on() vector(NaN)")
    assert metrics["latency-p99"]["successCondition"] == "result[0] <= 0.25"
    # Mirrored-answer checks stay with inferd up.
    assert "divergence and score checks" in stderr


def test_every_measurable_check_becomes_a_metric() -> None:
    spec = _one(
        """versions: [{name: v1, model: fraud:v1, replicas: 2}]
rollout:
  steps: [20, 100]
  interval: 2m
  failure_limit: 1
  analysis:
    min_requests: 0
    max_latency_ratio: 1.5
    max_drift_psi: 0.2
"""
    )
    objects = render_with(spec, registry=REGISTRY, progressive="argo")
    for o in objects:
        validate(o)
    rollout = _named(objects, "Rollout")["fraud-v1"]
    assert rollout["spec"]["replicas"] == 2
    assert rollout["spec"]["strategy"]["canary"]["steps"] == [
        {"setWeight": 20}, {"pause": {"duration": "120s"}}]  # fmt: skip
    metrics = {m["name"]: m for m in _named(objects, "AnalysisTemplate")["fraud-v1"]["spec"][
        "metrics"]}  # fmt: skip
    assert set(metrics) == {"error-rate", "latency-ratio", "input-drift-psi"}
    assert metrics["error-rate"]["failureLimit"] == 0
    ratio = metrics["latency-ratio"]["provider"]["prometheus"]["query"]
    assert 'service="fraud-v1-canary"' in ratio and 'service="fraud-v1"}' in ratio
    assert " and on() " not in ratio  # min_requests 0: no gate
    drift = metrics["input-drift-psi"]
    assert drift["provider"]["prometheus"]["query"] == (
        'max(inferd_input_drift_psi{service="fraud-v1-canary"}) or on() vector(0)')  # fmt: skip
    assert "failureCondition" not in drift
    # One version: nothing to stage, no note.
    assert "annotations" not in rollout["metadata"] or (
        "inferd.dev/not-rendered" not in rollout["metadata"]["annotations"])  # fmt: skip


def test_the_stable_stage_runs_the_main_version_alone() -> None:
    objects, stderr = _render("--progressive", "argo", "--stage", "stable")
    rollout = _named(objects, "Rollout")["fraud-v1"]
    assert _server(rollout["spec"]["template"]) == ["serve", "fraud:v1"]
    assert "fraud-v2" not in _named(objects, "Service")
    assert "Rollout/fraud-v1: candidate 'v2' (weight 10): the next step" in stderr
    route = _named(objects, "HTTPRoute")["fraud"]
    paths = [m["path"]["value"] for r in route["spec"]["rules"] for m in r["matches"]]
    assert "/v2/models/fraud/versions/v2" not in paths


def test_argo_with_an_hpa_scales_the_rollout() -> None:
    spec = _one(
        """versions: [{name: v1, model: fraud:v1}]
rollout: {steps: [50, 100]}
autoscaling: {min_replicas: 1, max_replicas: 3}
"""
    )
    objects = render_with(spec, registry=REGISTRY, progressive="argo", autoscaler="hpa")
    for o in objects:
        validate(o)
    hpa = _named(objects, "HorizontalPodAutoscaler")["fraud-v1"]
    assert hpa["spec"]["scaleTargetRef"]["kind"] == "Rollout"


def test_other_strategies_stay_plain_and_say_so() -> None:
    spec = _one(
        """versions: [{name: v1, model: fraud:v1}]
rollout: {strategy: blue-green}
"""
    )
    objects = render_with(spec, registry=REGISTRY, progressive="argo")
    assert "Rollout" not in {o["kind"] for o in objects}
    route = _named(objects, "HTTPRoute")["fraud"]
    assert route["metadata"]["annotations"]["inferd.dev/not-rendered"] == (
        "rollout (blue-green): --progressive argo renders canary rollouts only"
    )


def test_names_the_canary_service_would_take_are_refused() -> None:
    spec = _one(
        """versions:
  - {name: v1, model: fraud:v1}
  - {name: v1-canary, model: fraud:v2, replicas: 0}
traffic: {weights: {v1: 100}}
rollout: {steps: [50, 100]}
"""
    )
    with pytest.raises(InvalidArgument, match="would both be Service 'fraud-v1-canary'"):
        render_with(spec, registry=REGISTRY, progressive="argo")


def test_options_that_do_not_go_together_are_refused() -> None:
    spec = _one("versions: [{name: v1, model: fraud:v1}]")
    with pytest.raises(InvalidArgument, match="KServe rolls canaries out itself"):
        render_with(spec, registry=REGISTRY, progressive="argo", target="kserve")
    with pytest.raises(InvalidArgument, match="--stage stable needs"):
        render_with(spec, registry=REGISTRY, stage="stable")


def test_kserve_renders_the_stable_inference_service_to_apply_first() -> None:
    """Issue 12 item 12: the KServe target rendered only the canary."""
    objects, stderr = _render("--target", "kserve", "--stage", "stable")
    predictor = _named(objects, "InferenceService")["fraud"]["spec"]["predictor"]
    assert predictor["model"]["storageUri"] == "oci://registry.example.com/fraud:v1"
    assert "canaryTrafficPercent" not in predictor
    assert "canary 'v2' (10%): the next step, rendered with --stage canary" in stderr

    objects, stderr = _render("--target", "kserve")
    predictor = _named(objects, "InferenceService")["fraud"]["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 10
    assert "stable version 'v1': the revision KServe already runs" in stderr


def test_a_progress_deadline_is_named_as_not_rendered() -> None:
    spec = _one(
        """versions: [{name: v1, model: fraud:v1, replicas: 2}]
rollout:
  steps: [20, 100]
  progress_deadline: 20m
"""
    )
    rollout = _named(render_with(spec, registry=REGISTRY, progressive="argo"), "Rollout")
    note = rollout["fraud-v1"]["metadata"]["annotations"]["inferd.dev/not-rendered"]
    assert "rollout.progress_deadline: Argo pauses on a measurement without min_requests" in note


def test_a_language_models_analysis_measures_its_generations() -> None:
    """An LLM's OpenAI requests are counted in ``inferd_llm_requests_total`` and timed in the
    ``gen_ai_server_*`` histograms, never in ``inferd_requests_total``: measured there, the
    canary never reached ``min_requests`` and the Rollout paused for good; and the time to
    first token and per output token checks were dropped without a word."""
    spec = _one(
        """llm: {max_num_seqs: 8, max_model_len: 2048}
versions:
  - {name: v1, model: chat:v1, replicas: 2}
  - {name: v2, model: chat:v2, replicas: 1}
traffic: {weights: {v1: 90, v2: 10}}
rollout:
  steps: [10, 100]
  interval: 2m
  analysis:
    min_requests: 20
    max_latency_p99: 30s
    max_ttft_p95: 500ms
    max_inter_token_latency_p95: 50ms
"""
    )
    objects = render_with(spec, registry=REGISTRY, progressive="argo")
    for o in objects:
        validate(o)
    template = _named(objects, "AnalysisTemplate")["fraud-v1"]
    metrics = {m["name"]: m for m in template["spec"]["metrics"]}
    assert set(metrics) == {"error-rate", "latency-p99", "ttft-p95", "inter-token-latency-p95"}
    queries = {k: m["provider"]["prometheus"]["query"] for k, m in metrics.items()}
    assert "inferd_requests_total" not in " ".join(queries.values())
    assert queries["error-rate"].startswith(
        # A canary shedding load (503: queue full) fails its analysis as it burns the SLO.
        '(sum(rate(inferd_llm_requests_total{service="fraud-v1-canary",'
        'finish_reason=~"error|shed"}[120s])) / '
        'sum(rate(inferd_llm_requests_total{service="fraud-v1-canary"}[120s])))'
    )
    gate = (
        ' and on() (sum(increase(inferd_llm_requests_total{service="fraud-v1-canary"}[120s]))'
        " >= 20) or on() vector(NaN)"
    )
    assert all(q.endswith(gate) for q in queries.values())
    assert "gen_ai_server_request_duration_seconds_bucket" in queries["latency-p99"]
    assert queries["ttft-p95"].startswith(
        "(histogram_quantile(0.95, sum by (le) (rate(gen_ai_server_time_to_first_token_seconds"
        '_bucket{service="fraud-v1-canary"}[120s])))'
    )
    assert metrics["ttft-p95"]["successCondition"] == "result[0] <= 0.5"
    assert metrics["ttft-p95"]["failureCondition"] == "result[0] > 0.5"
    assert "gen_ai_server_time_per_output_token_seconds_bucket" in queries[
        "inter-token-latency-p95"]  # fmt: skip
    assert metrics["inter-token-latency-p95"]["successCondition"] == "result[0] <= 0.05"


def test_a_canary_service_name_over_63_characters_is_refused_naming_it() -> None:
    """The canary Service is ``{deployment}-{version}-canary``: a 57-character version name
    left room for the Deployment but not for it, and the cluster refused the Service on apply."""
    version = "v" * (63 - len("fraud-") - len("-canary") + 1)
    spec = _one(
        f"""versions: [{{name: {version}, model: fraud:v1}}]
rollout: {{steps: [50, 100]}}
"""
    )
    render_with(spec, registry=REGISTRY)  # 63 - 7 + 1 characters: a fine Deployment
    with pytest.raises(InvalidArgument) as caught:
        render_with(spec, registry=REGISTRY, progressive="argo")
    message = caught.value.message
    assert f"the canary Service name 'fraud-{version}-canary' (64 characters)" in message
    assert f"deployment 'fraud' version '{version}'" in message
    shorter = _one(
        f"""versions: [{{name: {version[1:]}, model: fraud:v1}}]
rollout: {{steps: [50, 100]}}
"""
    )
    services = _named(render_with(shorter, registry=REGISTRY, progressive="argo"), "Service")
    assert f"fraud-{version[1:]}-canary" in services


def test_a_language_models_canary_takes_both_of_its_splits() -> None:
    """An LLM has two routes (``/v2/models/{d}`` and ``/openai/{d}``): the canary Service
    joins both splits and the plugin is given both routes, or only one protocol's traffic
    would shift."""
    spec = _one(
        """llm: {max_num_seqs: 8, max_model_len: 2048}
versions:
  - {name: v1, model: fraud:v1, replicas: 2}
  - {name: v2, model: fraud:v2, replicas: 1}
traffic: {weights: {v1: 90, v2: 10}}
rollout: {steps: [10, 100]}
"""
    )
    objects = render_with(spec, registry=REGISTRY, progressive="argo")
    splits = {}
    for route in _named(objects, "HTTPRoute").values():
        validate(route)
        for r in route["spec"]["rules"]:
            if any("weight" in b for b in r["backendRefs"]):
                path = r["matches"][0]["path"]["value"]
                splits[path] = [(b["name"], b.get("weight")) for b in r["backendRefs"]]
    assert splits == {
        "/v2/models/fraud": [("fraud-v1", 100), ("fraud-v1-canary", 0)],
        "/openai/fraud": [("fraud-v1", 100), ("fraud-v1-canary", 0)],
    }
    rollout = _named(objects, "Rollout")["fraud-v1"]
    plugin = rollout["spec"]["strategy"]["canary"]["trafficRouting"]["plugins"]
    assert plugin == {
        "argoproj-labs/gatewayAPI": {"httpRoutes": [{"name": "fraud"}, {"name": "fraud-openai"}]}
    }


def _plugin_routes(rollout: dict[str, Any]) -> set[str]:
    plugin = rollout["spec"]["strategy"]["canary"]["trafficRouting"]["plugins"]
    config = plugin["argoproj-labs/gatewayAPI"]
    return {r["name"] for r in config.get("httpRoutes", [{"name": config.get("httpRoute")}])}


@pytest.mark.parametrize("llm", [False, True])
def test_the_plugin_never_owns_a_rule_whose_only_backend_is_the_stable_service(llm: bool) -> None:
    """The Gateway API plugin sets the weight of every stable-Service backend in the routes it
    is given to ``100 - canary weight``: 0 when Argo sends the canary all traffic just before
    promotion. A rule whose only backend is the stable Service (the main version's pinned
    path, a header route to it) then has all weights 0, which the Gateway API answers with
    500. Such rules live in a route of their own that the plugin is not given."""
    spec = _one(
        ("llm: {max_num_seqs: 8, max_model_len: 2048}\n" if llm else "")
        + """versions:
  - {name: v1, model: fraud:v1, replicas: 2}
  - {name: v2, model: fraud:v2, replicas: 1}
traffic:
  weights: {v1: 90, v2: 10}
  header_routes: [{header: x-pin, value: old, version: v1}]
rollout: {steps: [10, 100]}
"""
    )
    objects = render_with(spec, registry=REGISTRY, progressive="argo")
    routes = _named(objects, "HTTPRoute")
    for route in routes.values():
        validate(route)
    rollout = _named(objects, "Rollout")["fraud-v1"]
    canary = rollout["spec"]["strategy"]["canary"]
    managed = _plugin_routes(rollout)
    assert managed <= set(routes)
    for name in managed:
        for rule in routes[name]["spec"]["rules"]:
            names = {b["name"] for b in rule["backendRefs"]}
            if canary["stableService"] in names:
                assert canary["canaryService"] in names, (name, rule)
    # The pinned path and the header route still reach the main version, outside the plugin.
    pinned = {
        (m["path"]["value"], bool(m.get("headers"))): [b["name"] for b in r["backendRefs"]]
        for name, route in routes.items()
        if name not in managed
        for r in route["spec"]["rules"]
        for m in r["matches"]
    }
    prefixes = ["/v2/models/fraud"] + (["/openai/fraud"] if llm else [])
    for prefix in prefixes:
        assert pinned[(f"{prefix}/versions/v1", False)] == ["fraud-v1"]
        assert pinned[(prefix, True)] == ["fraud-v1"]
