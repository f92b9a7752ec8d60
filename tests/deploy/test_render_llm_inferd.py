"""A language model served by inferd's own engine (``llm.engine: inferd``) autoscaled on the
plain target: its OpenAI requests are generations, counted in ``inferd_llm_requests_total``,
timed in ``gen_ai_server_*`` and tracked in ``inferd_llm_requests_running``/``_waiting`` —
never in ``inferd_requests_total``, ``inferd_inflight_requests`` or ``inferd_queue_depth``,
which stay at 0 however busy the model is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from inferd.errors import InvalidArgument
from inferd.spec.loading import parse_spec
from inferd.spec.model import Spec

from .conftest import promql_at_5m, render_with, validate

REGISTRY = "registry.example.com"


def _spec(metric: str) -> Spec:
    return parse_spec(
        f"""apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: chat
    llm: {{engine: inferd, max_num_seqs: 8, max_model_len: 2048}}
    versions: [{{name: v1, model: "chat:v1", replicas: 1}}]
    autoscaling: {{min_replicas: 1, max_replicas: 4, metric: {metric}, target: 2}}
"""
    )


def _trigger(metric: str) -> dict[str, Any]:
    objects = render_with(_spec(metric), registry=REGISTRY)
    (scaled,) = [o for o in objects if o["kind"] == "ScaledObject"]
    validate(scaled)
    (trigger,) = scaled["spec"]["triggers"]
    return dict(trigger)


#: The queries of the metrics whose classic series a generation never moves.
GENERATION_QUERIES = {
    "concurrency": (
        'sum(inferd_llm_requests_running{service="chat-v1"}) + '
        'sum(inferd_llm_requests_waiting{service="chat-v1"})'
    ),
    "queue_depth": 'sum(inferd_llm_requests_waiting{service="chat-v1"})',
    "rps": 'sum(rate(inferd_llm_requests_total{service="chat-v1"}[1m]))',
    "latency_p95": (
        "histogram_quantile(0.95, sum by (le) "
        '(rate(gen_ai_server_request_duration_seconds_bucket{service="chat-v1"}[1m])))'
    ),
}


@pytest.mark.parametrize("metric", sorted(GENERATION_QUERIES))
def test_keda_reads_the_generation_series(metric: str) -> None:
    trigger = _trigger(metric)
    assert trigger["metadata"]["query"] == GENERATION_QUERIES[metric]
    assert trigger["metricType"] == ("Value" if metric == "latency_p95" else "AverageValue")


def test_the_generation_queries_compute_per_version_values_in_prometheus(
    promtool: str, tmp_path: Path
) -> None:
    """Each query evaluated by promtool over the series a serving inferd LLM exports (names
    and labels as its /metrics writes them) on two pods of the version and one of another
    Service, which must not count."""
    mine, other = 'service="chat-v1",model="chat",version="v1"', 'service="other"'
    series = [
        (f'inferd_llm_requests_running{{{mine},pod="a"}}', "3x10"),
        (f'inferd_llm_requests_running{{{mine},pod="b"}}', "1x10"),
        (f'inferd_llm_requests_running{{{other},pod="c"}}', "50x10"),
        (f'inferd_llm_requests_waiting{{{mine},pod="a"}}', "2x10"),
        (f'inferd_llm_requests_waiting{{{mine},pod="b"}}', "0x10"),
        (f'inferd_llm_requests_total{{{mine},pod="a",operation="chat",finish_reason="stop"}}',
         "0+60x10"),
        (f'inferd_llm_requests_total{{{mine},pod="b",operation="chat",finish_reason="length"}}',
         "0+120x10"),
        (f'gen_ai_server_request_duration_seconds_bucket{{{mine},pod="a",operation="chat",'
         'le="0.16"}', "0+10x10"),
        (f'gen_ai_server_request_duration_seconds_bucket{{{mine},pod="a",operation="chat",'
         'le="1.28"}', "0+100x10"),
        (f'gen_ai_server_request_duration_seconds_bucket{{{mine},pod="a",operation="chat",'
         'le="+Inf"}', "0+100x10"),
    ]  # fmt: skip
    expected = {
        "concurrency": 6,  # running 3 + 1, waiting 2 + 0
        "queue_depth": 2,
        "rps": 3,  # 60 and 120 a minute
        # 95 of 100 per minute: (95 - 10) / 90 of the way through the 0.16-1.28 s bucket
        "latency_p95": 1.218,
    }
    queries = {_trigger(metric)["metadata"]["query"]: v for metric, v in expected.items()}
    promql_at_5m(promtool, tmp_path, series, queries)


def test_an_hpa_reads_the_waiting_generations_for_queue_depth() -> None:
    objects = render_with(_spec("queue_depth"), registry=REGISTRY, autoscaler="hpa")
    (hpa,) = [o for o in objects if o["kind"] == "HorizontalPodAutoscaler"]
    validate(hpa)
    assert hpa["spec"]["metrics"][0]["pods"]["metric"]["name"] == "inferd_llm_requests_waiting"


@pytest.mark.parametrize("metric", ["concurrency", "rps", "latency_p95"])
def test_an_hpa_on_a_metric_generations_do_not_reach_is_refused(metric: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        render_with(_spec(metric), registry=REGISTRY, autoscaler="hpa")
    message = caught.value.message
    assert f"deployment 'chat': autoscaling.metric {metric}" in message
    assert "--autoscaler keda" in message


def test_the_openai_api_is_routed_under_the_deployments_path() -> None:
    """The route had only ``/v2/models/{deployment}``: a client of the OpenAI API (what a
    language model is asked through) found no path to the pods at all. As for vLLM, it is
    ``/openai/{deployment}``, rewritten to ``/``, split and mirrored as the spec says, by a
    route of its own (each route has the Gateway API's limit of 16 rules)."""
    spec = parse_spec(
        """apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: chat
    llm: {engine: inferd, max_num_seqs: 8, max_model_len: 2048}
    versions:
      - {name: v1, model: "chat:v1", replicas: 2}
      - {name: v2, model: "chat:v2", replicas: 1}
      - {name: mirror, model: "chat:v2", replicas: 1}
    traffic:
      weights: {v1: 90, v2: 10}
      shadow: mirror
      header_routes: [{header: x-canary, value: "1", version: v2}]
"""
    )
    objects = render_with(spec, registry=REGISTRY)
    routes = {o["metadata"]["name"]: o for o in objects if o["kind"] == "HTTPRoute"}
    assert set(routes) == {"chat", "chat-openai"}
    for route in routes.values():
        validate(route)
    route = routes["chat-openai"]
    openai = route["spec"]["rules"]
    rewrite = {"type": "URLRewrite", "urlRewrite": {"path": {
        "type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}}}  # fmt: skip
    paths = [r["matches"][0]["path"]["value"] for r in openai]
    assert paths == [
        "/openai/chat/versions/v1", "/openai/chat/versions/v2", "/openai/chat/versions/mirror",
        "/openai/chat", "/openai/chat",
    ]  # fmt: skip
    assert all(r["filters"][0] == rewrite for r in openai)
    assert openai[0]["backendRefs"] == [{"name": "chat-v1", "port": 8080}]
    header, split = openai[3:]
    assert header["matches"][0]["headers"] == [{"type": "Exact", "name": "x-canary", "value": "1"}]
    assert header["backendRefs"] == [{"name": "chat-v2", "port": 8080}]
    assert split["backendRefs"] == [
        {"name": "chat-v1", "port": 8080, "weight": 90},
        {"name": "chat-v2", "port": 8080, "weight": 10},
    ]
    assert split["filters"][1]["requestMirror"]["backendRef"]["name"] == "chat-mirror"
    assert "inferd.dev/not-rendered" not in route["metadata"].get("annotations", {})
    # The Open Inference Protocol paths stay as they were.
    v2 = [r["matches"][0]["path"]["value"] for r in routes["chat"]["spec"]["rules"]]
    assert "/v2/models/chat" in v2 and not any(path.startswith("/openai") for path in v2)


def test_a_language_model_with_many_versions_fits_the_rule_limit() -> None:
    """Eleven versions (a base and ten adapters): 12 rules per protocol, within the 16 each
    route may hold."""
    versions = "\n".join(
        f'      - {{name: a{i}, model: "chat:a{i}", adapter_of: v1}}' for i in range(10)
    )
    spec = parse_spec(
        f"""apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: chat
    llm: {{engine: inferd}}
    versions:
      - {{name: v1, model: "chat:v1"}}
{versions}
    traffic: {{weights: {{v1: 100}}}}
"""
    )
    routes = [o for o in render_with(spec, registry=REGISTRY) if o["kind"] == "HTTPRoute"]
    assert [len(r["spec"]["rules"]) for r in routes] == [12, 12]


def test_a_model_named_unlike_its_deployment_is_named_in_the_route() -> None:
    """Pods serve the model under its own name, which a request's ``model`` must give."""
    spec = parse_spec(
        """apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: chat
    llm: {engine: inferd}
    versions: [{name: v1, model: "registry.example.com/team/llama:v1"}]
"""
    )
    routes = {o["metadata"]["name"]: o for o in render_with(spec) if o["kind"] == "HTTPRoute"}
    note = routes["chat-openai"]["metadata"]["annotations"]["inferd.dev/not-rendered"]
    assert "model 'team/llama'" in note and "/openai/chat" in note
