"""Series of language-model generations, named after OpenTelemetry's GenAI semantic conventions
so that dashboards built for them read inferd's (docs/metrics.md#language-models maps them to
vLLM's names too).

OTel's histograms ``gen_ai.server.time_to_first_token``, ``gen_ai.server.time_per_output_token``
and ``gen_ai.server.request.duration`` become ``gen_ai_server_*_seconds`` in Prometheus. Tokens
are counted by ``type`` (``input``/``output``, OTel's ``gen_ai.token.type``), and the running
and waiting generations are read from the engine at scrape time. Labels are the served model and
version, and ``operation`` (OTel's ``gen_ai.operation.name``) from a fixed set.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from inferd.errors import Code, InferdError

#: OTel's ``gen_ai.operation.name`` values inferd serves (a label: a fixed set).
OPERATIONS: Final = ("chat", "text_completion", "embeddings")
Operation = Literal["chat", "text_completion", "embeddings"]
#: How a generation ended (``cancelled``: its client went away; ``error``: it failed;
#: ``rejected``: its request refused before it queued, the client's doing, e.g. over the
#: context, 400; ``shed``: refused by the server before it queued, e.g. the queue full or the
#: model unloading, 503).
ENDINGS: Final = ("stop", "length", "cancelled", "error", "rejected", "shed")
#: Codes of a refusal that is the client's doing (``rejected``); the server's refusals to serve
#: (UNAVAILABLE) are ``shed``, any other refusal an ``error``: both count against an SLO.
CLIENT_CODES: Final = frozenset({
    Code.INVALID_ARGUMENT, Code.NOT_FOUND, Code.ALREADY_EXISTS, Code.PAYLOAD_TOO_LARGE,
    Code.UNSUPPORTED, Code.RESOURCE_EXHAUSTED, Code.CANCELLED, Code.UNAUTHENTICATED,
    Code.PERMISSION_DENIED,
})  # fmt: skip

#: Series the autoscaler reads from replicas (engine replicas' own metrics are mapped onto them).
REQUESTS_WAITING: Final = "inferd_llm_requests_waiting"
TOKENS_IN_FLIGHT: Final = "inferd_llm_tokens_in_flight"
KV_CACHE_USAGE: Final = "inferd_llm_kv_cache_usage_ratio"

#: Seconds; OTel's advisory buckets for time to first token, extended to a minute.
TTFT_BUCKETS: Final = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
    10.0, 30.0, 60.0,
)  # fmt: skip
#: Seconds; OTel's advisory buckets for time per output token.
TPOT_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0,
    2.5,
)  # fmt: skip
DURATION_BUCKETS: Final = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
    163.84,
)  # fmt: skip
_LABELS = ("model", "version", "operation")


class GenerationDuration:
    """A generation's duration histogram child that also stamps its version's last inference
    (``inferd_model_last_inference_timestamp_seconds``, as a finished batch does)."""

    __slots__ = ("_histogram", "_last_inference")

    def __init__(self, histogram: Histogram, last_inference: Gauge | None) -> None:
        self._histogram = histogram
        self._last_inference = last_inference

    def observe(self, seconds: float) -> None:
        self._histogram.observe(seconds)
        if self._last_inference is not None:
            self._last_inference.set(time.time())


def refusal(error: BaseException | None) -> str:
    """The ending of a generation refused before it queued with ``error``: ``rejected`` when
    the client's request was at fault, ``shed`` when the server would not serve it now,
    ``error`` otherwise (a failure; an error that is no InferdError is one too)."""
    if not isinstance(error, InferdError):
        return "error"
    if error.code in CLIENT_CODES:
        return "rejected"
    return "shed" if error.code is Code.UNAVAILABLE else "error"


class Refusals:
    """A generation's ``rejected``, ``shed`` and ``error`` counters as one: :meth:`inc` counts
    a refusal under the ending of its error (:func:`refusal`)."""

    __slots__ = ("_endings",)

    def __init__(self, endings: dict[str, Counter]) -> None:
        self._endings = endings

    def inc(self, amount: float = 1, error: BaseException | None = None) -> None:
        """Count ``amount`` refusals with ``error``; by default the exception being handled
        (called in the ``except`` clause of the refusal)."""
        self._endings[refusal(error if error is not None else sys.exc_info()[1])].inc(amount)


@dataclass(frozen=True, slots=True)
class GenerationSeries:
    """The bound series of one (model, version, operation)."""

    time_to_first_token: Histogram
    time_per_output_token: Histogram
    duration: GenerationDuration
    input_tokens: Counter
    output_tokens: Counter
    #: Tokens decoded for a generation after its client left (at most one decode step's).
    tokens_after_cancel: Counter
    #: A counter by ending; ``rejected`` counts a refusal before the generation queued under
    #: the ending its error makes (:class:`Refusals`: ``rejected``, ``shed`` or ``error``).
    endings: dict[str, Counter | Refusals]


class LlmMetrics:
    """The GenAI series of one server, registered in its registry."""

    def __init__(self, registry: CollectorRegistry, last_inference: Gauge | None = None) -> None:
        """``last_inference``: the server's per-version gauge a finished generation stamps
        (labelled ``model``, ``version``); None stamps nothing."""
        r = registry
        self._last_inference = last_inference
        histogram = functools.partial(Histogram, labelnames=_LABELS, registry=r)
        self._ttft = histogram(
            "gen_ai_server_time_to_first_token_seconds",
            "Time from a generation request arriving to its first output token.",
            buckets=TTFT_BUCKETS,
        )
        self._tpot = histogram(
            "gen_ai_server_time_per_output_token_seconds",
            "Mean time between output tokens after the first (inter-token latency), per request.",
            buckets=TPOT_BUCKETS,
        )
        self._duration = histogram(
            "gen_ai_server_request_duration_seconds",
            "Time from a generation request arriving to its last token.",
            buckets=DURATION_BUCKETS,
        )
        self._tokens = Counter(
            "inferd_llm_tokens",
            "Tokens read (type=input: prompts) and generated (type=output).",
            (*_LABELS, "type"), registry=r,
        )  # fmt: skip
        self._after_cancel = Counter(
            "inferd_llm_tokens_after_cancel",
            "Output tokens decoded for generations after their client left (cancelled): at "
            "most one per cancelled request, the decode step already running.",
            _LABELS, registry=r,
        )  # fmt: skip
        self._endings = Counter(
            "inferd_llm_requests",
            "Generation requests by how they ended (stop, length, cancelled, error, rejected: "
            "refused for the client's request, shed: refused by the server).",
            (*_LABELS, "finish_reason"), registry=r,
        )  # fmt: skip
        gauge = functools.partial(Gauge, labelnames=("model", "version"), registry=r)
        self._running = gauge(
            "inferd_llm_requests_running", "Generations decoding now (in the engine's batch)."
        )
        self._waiting = gauge(
            REQUESTS_WAITING, "Generations queued for a slot in the engine's batch."
        )
        self._tokens_in_flight = gauge(
            TOKENS_IN_FLIGHT,
            "Tokens running and waiting generations may hold: each one's prompt plus max_tokens.",
        )
        self._kv_usage = gauge(
            KV_CACHE_USAGE, "Share of the engine's KV cache cells reserved by running generations."
        )

    def bind(self, model: str, version: str, operation: Operation) -> GenerationSeries:
        labels = (model, version, operation)
        counters = {e: self._endings.labels(*labels, e) for e in ENDINGS}
        endings: dict[str, Counter | Refusals] = {**counters, "rejected": Refusals(counters)}
        return GenerationSeries(
            time_to_first_token=self._ttft.labels(*labels),
            time_per_output_token=self._tpot.labels(*labels),
            duration=GenerationDuration(
                self._duration.labels(*labels),
                None if self._last_inference is None else self._last_inference.labels(*labels[:2]),
            ),
            input_tokens=self._tokens.labels(*labels, "input"),
            output_tokens=self._tokens.labels(*labels, "output"),
            tokens_after_cancel=self._after_cancel.labels(*labels),
            endings=endings,
        )

    def watch_load(
        self,
        model: str,
        version: str,
        load: Callable[[], tuple[int, int]],
        occupancy: Callable[[], tuple[int, float]],
    ) -> None:
        """Read (running, waiting) from ``load()`` and (tokens in flight, KV-cache usage) from
        ``occupancy()`` at scrape time."""
        self._running.labels(model, version).set_function(lambda: load()[0])
        self._waiting.labels(model, version).set_function(lambda: load()[1])
        self._tokens_in_flight.labels(model, version).set_function(lambda: occupancy()[0])
        self._kv_usage.labels(model, version).set_function(lambda: occupancy()[1])

    def forget(self, model: str, version: str) -> None:
        """Drop the series of a version that is gone (its counters' history stays in TSDB)."""
        children: list[tuple[Counter | Gauge | Histogram, tuple[str, ...]]] = [
            (self._running, (model, version)), (self._waiting, (model, version)),
            (self._tokens_in_flight, (model, version)), (self._kv_usage, (model, version)),
        ]  # fmt: skip
        for operation in OPERATIONS:
            labels = (model, version, operation)
            children += [
                (h, labels) for h in (self._ttft, self._tpot, self._duration, self._after_cancel)
            ]
            children += [(self._tokens, (*labels, kind)) for kind in ("input", "output")]
            children += [(self._endings, (*labels, ending)) for ending in ENDINGS]
        for family, values in children:
            # remove() raises KeyError for a child never created: forgetting is idempotent.
            with contextlib.suppress(KeyError):
                family.remove(*values)
