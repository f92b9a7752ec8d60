"""What the cost sampler takes from each replica's own ``/metrics``: the batches its model ran,
and the tokens a language model read and generated.

``inferd_batch_size`` is a histogram of rows per batch, ``inferd_llm_tokens_total`` a counter of
tokens by ``type`` (``input``: prompts, ``output``: generated), both cumulative since the replica
process started. :class:`BatchCounts` and :class:`TokenCounts` keep each process's last reading,
so an interval gets what was added since (a restarted process starts again from zero: its whole
count is new).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from prometheus_client.parser import text_string_to_metric_families

from inferd.control.replicas.topology import Replica
from inferd.cost.accounting import Buckets, Tokens
from inferd.cost.usage import add_buckets

BATCH_SIZE = "inferd_batch_size"
LLM_TOKENS = "inferd_llm_tokens"


def batch_histogram(text: str) -> tuple[float, Buckets]:
    """Rows in all batches and the cumulative buckets of ``inferd_batch_size`` in an
    exposition (every version it serves added up)."""
    rows = 0.0
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != BATCH_SIZE:
            continue
        for sample in family.samples:
            if sample.name.endswith("_sum"):
                rows += sample.value
            elif sample.name.endswith("_bucket"):
                le = sample.labels["le"]
                bound = math.inf if le == "+Inf" else float(le)
                buckets[bound] = buckets.get(bound, 0.0) + sample.value
    return rows, tuple(sorted(buckets.items()))


class BatchCounts:
    """Per replica process, the last histogram read; :meth:`added` returns what is new."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, int | None], tuple[float, Buckets]] = {}

    def added(
        self, scraped: Iterable[tuple[Replica, str]], running: Iterable[Replica]
    ) -> dict[tuple[str, str], tuple[int, Buckets]]:
        """Rows and batch buckets each version's replicas added since the last call;
        ``running`` are the replicas still running (the others' readings are forgotten; one
        whose scrape failed this time keeps its last reading)."""
        rows: dict[tuple[str, str], int] = {}
        buckets: dict[tuple[str, str], list[Buckets]] = {}
        live = {(r.id, r.pid) for r in running}
        self._last = {k: v for k, v in self._last.items() if k in live}
        for replica, text in scraped:
            key = (replica.id, replica.pid)
            now_rows, now_buckets = batch_histogram(text)
            before_rows, before_buckets = self._last.get(key, (0.0, ()))
            self._last[key] = (now_rows, now_buckets)
            if now_rows < before_rows:  # counted again from zero: a new process
                before_rows, before_buckets = 0.0, ()
            version = (replica.deployment, replica.version)
            rows[version] = rows.get(version, 0) + round(now_rows - before_rows)
            earlier = dict(before_buckets)
            delta = tuple((b, c - earlier.get(b, 0.0)) for b, c in now_buckets)
            buckets.setdefault(version, []).append(delta)
        return {k: (rows[k], add_buckets(buckets[k])) for k in rows}


def llm_tokens(text: str) -> Tokens | None:
    """Prompt and generated tokens of ``inferd_llm_tokens_total`` in an exposition (every
    version it serves added up); None when it has no such sample. Every server declares the
    family; a language model's samples appear with its first request."""
    prompt = generated = 0.0
    found = False
    for family in text_string_to_metric_families(text):
        if family.name != LLM_TOKENS:
            continue
        for sample in family.samples:
            if not sample.name.endswith("_total"):
                continue  # the _created timestamps
            found = True
            if sample.labels.get("type") == "input":
                prompt += sample.value
            elif sample.labels.get("type") == "output":
                generated += sample.value
    return Tokens(round(prompt), round(generated)) if found else None


class TokenCounts:
    """Per replica process, the last token counts read; :meth:`added` returns what is new."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, int | None], Tokens] = {}

    def added(
        self, scraped: Iterable[tuple[Replica, str]], running: Iterable[Replica]
    ) -> dict[tuple[str, str], Tokens]:
        """Tokens each language-model version's replicas read and generated since the last
        call (versions without an ``inferd_llm_tokens`` series are absent)."""
        added: dict[tuple[str, str], Tokens] = {}
        live = {(r.id, r.pid) for r in running}
        self._last = {k: v for k, v in self._last.items() if k in live}
        for replica, text in scraped:
            now = llm_tokens(text)
            if now is None:
                continue
            key = (replica.id, replica.pid)
            before = self._last.get(key, Tokens())
            self._last[key] = now
            if now.prompt < before.prompt or now.generated < before.generated:
                before = Tokens()  # counted again from zero: a new process
            version = (replica.deployment, replica.version)
            so_far = added.get(version, Tokens())
            added[version] = Tokens(
                so_far.prompt + now.prompt - before.prompt,
                so_far.generated + now.generated - before.generated,
            )
        return added
