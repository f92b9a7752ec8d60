"""The language-model dashboard: how fast the chosen deployments' LLM versions answer and generate.

Time to first token, time per output token and request duration (OpenTelemetry's GenAI
histograms), tokens read and generated per second, generations running and waiting for a slot
in the engine's batch, and how generations ended (docs/metrics.md#language-models).

Only a loaded language-model version exports these series, so every query (variables included)
is marked as needing an LLM: where no LLM is served the dashboard is empty, and the tests accept
that only because no LLM series exist there. The variables list what the running-generations
gauge names, which every loaded language model exports from its load on, before any request.
Versions are the spec's, ``inferd_version``, as on the per-model dashboard: a shadow serving its
primary's GGUF under other engine settings reports the same ``version`` (the model's tag).
"""

from __future__ import annotations

from inferd.deploy.grafana.builder import Dashboard, Panel, Query, Row, Variable, headline
from inferd.deploy.grafana.per_model import MODEL, SERVER
from inferd.deploy.grafana.promql import (
    DEPLOYMENT,
    GENERATION_DURATION,
    LLM_REQUESTS,
    LLM_RUNNING,
    LLM_TOKENS,
    LLM_WAITING,
    NAMESPACE,
    TIME_PER_OUTPUT_TOKEN,
    TIME_TO_FIRST_TOKEN,
    Series,
    quantile,
    select,
    sum_rate,
)

PER_VERSION = ("deployment", "inferd_version")
VERSION_LEGEND = "{{deployment}} {{inferd_version}}"
OUTPUT = 'type="output"'
INPUT = 'type="input"'
#: Grafana's custom unit syntax: the value followed by " tok/s".
TOKENS_PER_S = "suffix:tok/s"


def _query(expr: str, legend: str = VERSION_LEGEND, *, instant: bool = False) -> Query:
    return Query(expr, legend, needs="llm", instant=instant)


def _gauge(series: Series, labels: tuple[str, ...]) -> str:
    by = f"by ({', '.join(labels)}) " if labels else ""
    return f"sum {by}({select(series, *SERVER)})"


_NOW = Row(
    "Now",
    (
        headline(
            "Output tokens/s",
            "Tokens generated per second by the chosen versions together.",
            sum_rate(LLM_TOKENS, (), *SERVER, OUTPUT),
            unit=TOKENS_PER_S,
            needs="llm",
        ),
        headline(
            "Time to first token, p95",
            "95th percentile of the time from a generation request arriving to its first "
            "output token, over the chosen versions.",
            quantile(0.95, TIME_TO_FIRST_TOKEN, (), *SERVER),
            unit="s",
            needs="llm",
        ),
        headline(
            "Running",
            "Generations decoding now, in the engines' batches.",
            _gauge(LLM_RUNNING, ()),
            needs="llm",
        ),
        headline(
            "Waiting",
            "Generations queued for a slot in an engine's batch: above 0, the batches are full.",
            _gauge(LLM_WAITING, ()),
            thresholds=((1, "orange"),),
            needs="llm",
        ),
    ),
)

_LATENCY = Row(
    "Latency",
    (
        Panel(
            "Time to first token by version",
            "p50 and p95 of the time from a generation request arriving to its first output "
            "token: the wait for a slot and the prompt's processing (prefill).",
            tuple(
                _query(
                    quantile(q, TIME_TO_FIRST_TOKEN, PER_VERSION, *SERVER), f"{VERSION_LEGEND} p{p}"
                )
                for q, p in ((0.5, 50), (0.95, 95))
            ),
            unit="s",
            width=8,
        ),
        Panel(
            "Time per output token, p95 by version",
            "95th percentile over requests of each request's mean time between output tokens "
            "after the first (inter-token latency): one over it is a stream's tokens/s.",
            (
                _query(
                    quantile(0.95, TIME_PER_OUTPUT_TOKEN, PER_VERSION, *SERVER),
                    f"{VERSION_LEGEND} p95",
                ),
            ),
            unit="s",
            width=8,
        ),
        Panel(
            "Request duration, p95 by version and operation",
            "95th percentile of the time from a request arriving to its last token (chat, "
            "text completion) or to its vectors (embeddings).",
            (
                _query(
                    quantile(0.95, GENERATION_DURATION, (*PER_VERSION, "operation"), *SERVER),
                    f"{VERSION_LEGEND} {{{{operation}}}} p95",
                ),
            ),
            unit="s",
            width=8,
        ),
    ),
)

_TOKENS = Row(
    "Tokens",
    (
        Panel(
            "Output tokens/s by version",
            "Tokens generated per second.",
            (_query(sum_rate(LLM_TOKENS, PER_VERSION, *SERVER, OUTPUT)),),
            unit=TOKENS_PER_S,
        ),
        Panel(
            "Input tokens/s by version",
            "Prompt tokens read per second (the texts of embedding requests included).",
            (_query(sum_rate(LLM_TOKENS, PER_VERSION, *SERVER, INPUT)),),
            unit=TOKENS_PER_S,
        ),
    ),
)

_REQUESTS = Row(
    "Requests",
    (
        Panel(
            "Running and waiting by version",
            "Generations decoding in the engine's batch, and generations queued for a slot in "
            "it (read when Prometheus scrapes).",
            (
                _query(_gauge(LLM_RUNNING, PER_VERSION), f"{VERSION_LEGEND} running"),
                _query(_gauge(LLM_WAITING, PER_VERSION), f"{VERSION_LEGEND} waiting"),
            ),
        ),
        Panel(
            "Requests/s by finish reason",
            "How requests ended: stop (an end-of-generation token or a stop string; every "
            "embedding request), length (max_tokens or the context), cancelled (the client "
            "went away), error (a deadline, an engine stopped), rejected (refused for the "
            "client's request: over the context, 400), shed (refused by the server: queue full, "
            "unloading, 503).",
            (
                _query(
                    sum_rate(LLM_REQUESTS, (*PER_VERSION, "finish_reason"), *SERVER),
                    f"{VERSION_LEGEND} {{{{finish_reason}}}}",
                ),
            ),
            unit="reqps",
        ),
    ),
)

LLM = Dashboard(
    uid="inferd-llm",
    title="inferd / Language models",
    description="Language-model versions: time to first token, time per output token, request "
    "duration, tokens/s, running and waiting generations, and how generations ended.",
    variables=(
        Variable("namespace", "Namespace", str(LLM_RUNNING), "namespace", needs="llm"),
        Variable(
            "deployment", "Deployment", select(LLM_RUNNING, NAMESPACE), "deployment", needs="llm"
        ),
        Variable(
            "version", "Version", select(LLM_RUNNING, DEPLOYMENT), "inferd_version", needs="llm"
        ),
    ),
    rows=(_NOW, _LATENCY, _TOKENS, _REQUESTS),
    # The per-model dashboard's markers: a rollout step or a change of replicas, and the
    # autoscaler changing its mind.
    annotations=MODEL.annotations,
    links=("inferd",),
)
