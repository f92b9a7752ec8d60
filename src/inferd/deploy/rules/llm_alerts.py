"""Alerts on a language model's generations, from the GenAI series of inferd's own engine
(docs/metrics.md#language-models): generations that fail, time to first token and time per
output token, with thresholds from the deployment's ``rollout.analysis``.

OpenAI requests to a language model are counted in ``inferd_llm_requests_total`` and timed in
the ``gen_ai_server_*`` histograms, not in ``inferd_requests_total``, so the request alerts of
:mod:`inferd.deploy.rules.alerts` do not see them. An external engine (``llm.engine``
``llama-server`` or ``vllm``) exports none of these series, so its deployments get none of
these alerts.
"""

from __future__ import annotations

from inferd.deploy.rules.model import Need, Rule, alert
from inferd.deploy.rules.promql import BY_VERSION, Scope, measurable, number, ratio
from inferd.observe.llm_metrics import TPOT_BUCKETS, TTFT_BUCKETS
from inferd.spec.model import DeploymentSpec
from inferd.spec.policies import AnalysisSpec

_RATE = "5m"
_LLM: frozenset[Need] = frozenset({"llm"})
#: How a generation ended (inferd_llm_requests_total's ``finish_reason``) when it failed: an
#: error, or refused by the server (``shed``: 503); a client's request refused (``rejected``)
#: did not fail through the server.
_FAILED = 'finish_reason=~"error|shed"'


def inferd_serves(deployment: DeploymentSpec) -> bool:
    """Whether the deployment's replicas are inferd's own model servers, whose series the
    request, model and GenAI alerts read (an external engine's replicas export its own)."""
    return deployment.llm is None or deployment.llm.engine == "inferd"


def llm_alerts(deployment: DeploymentSpec, analysis: AnalysisSpec, scope: Scope) -> list[Rule]:
    """The generation alerts of one deployment: failed generations for a language-model
    deployment, and time to first token and per output token where the analysis sets them."""
    if not inferd_serves(deployment):
        return []
    d = deployment.name
    out: list[Rule] = []
    if deployment.llm is not None:
        limit = analysis.max_error_rate
        rollout = deployment.rollout
        origin = (
            "rollout.analysis.max_error_rate"
            if rollout is not None and "max_error_rate" in rollout.analysis.model_fields_set
            else "inferd's default"
        )

        def endings(*matchers: str) -> str:
            selector = scope.sel(*matchers)
            return scope.versioned(f"rate(inferd_llm_requests_total{selector}[{_RATE}])")

        out.append(
            alert(
                "InferdGenerationErrorRateHigh",
                ratio(endings(_FAILED), endings(), BY_VERSION),
                f"> {number(limit)}",
                severity="warning",
                for_="5m",
                summary=f"{d}: more than {number(limit * 100)}% of generations fail",
                description="{{ $labels.deployment }}/{{ $labels.version }}: {{ $value "
                "| humanizePercentage }} of generations failed (a deadline passed, the engine "
                f"stopped) or were shed (503: queue full) over {_RATE} "
                f"(limit {number(limit * 100)}%, {origin}).",
                needs=_LLM,
            )
        )
    histograms = (
        (
            "InferdTimeToFirstTokenHigh",
            "gen_ai_server_time_to_first_token_seconds",
            analysis.max_ttft_p95,
            "max_ttft_p95",
            "time to first token",
            TTFT_BUCKETS,
        ),
        (
            "InferdTimePerOutputTokenHigh",
            "gen_ai_server_time_per_output_token_seconds",
            analysis.max_inter_token_latency_p95,
            "max_inter_token_latency_p95",
            "time per output token",
            TPOT_BUCKETS,
        ),
    )
    for name, series, threshold, field, what, bounds in histograms:
        if threshold is None:
            continue
        where = f"rollout.analysis.{field}"
        measurable(threshold, bounds, deployment=d, field=where, series=series)
        buckets = scope.versioned(f"rate({series}_bucket{scope.sel()}[{_RATE}])")
        out.append(
            alert(
                name,
                f"histogram_quantile(0.95, sum by ({BY_VERSION}, le) ({buckets}))",
                f"> {number(threshold)}",
                severity="warning",
                for_="10m",
                summary=f"{d}: p95 {what} above {number(threshold * 1000)}ms",
                description="{{ $labels.deployment }}/{{ $labels.version }}: p95 "
                + what
                + " {{ $value | humanizeDuration }} over "
                + _RATE
                + f" (limit {number(threshold * 1000)}ms: rollout.analysis.{field}).",
                needs=_LLM,
            )
        )
    return out
