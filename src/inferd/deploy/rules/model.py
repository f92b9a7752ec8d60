"""Rules and rule groups as values, and what each needs to have data.

A :class:`Rule` is an alerting or a recording rule as Prometheus reads it, plus two things
Prometheus does not: ``signal`` (an alert's expression without its threshold, what a test or a
dashboard evaluates to see the value the alert compares) and ``needs`` (the exporters its series
come from beyond the inferd servers, so a check against a Prometheus scraping ``inferd up`` knows
which expressions cannot have data there).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal, get_args

from inferd.deploy.k8s_options import runbook_link
from inferd.deploy.objects import Obj

#: Where a Prometheus runs: scraping a cluster (pods through the ServiceMonitor, and
#: kube-state-metrics), or scraping ``inferd up``'s gateway ``/metrics``.
Platform = Literal["kubernetes", "local"]
PLATFORMS: tuple[Platform, ...] = get_args(Platform)

#: Series sources besides the model servers' own ``/metrics``:
#: ``kube-state-metrics`` (cluster objects), ``argo-rollouts`` (the Argo Rollouts controller),
#: ``inferd-up`` (the gateway of ``inferd up``: shadow comparison, autoscaler, rollouts),
#: ``gpu`` (the DCGM-named series a server exports only where NVML sees a GPU), ``llm`` (the
#: GenAI series of a language model inferd's own engine serves, from its first generation);
#: and two conditions of the servers' own series: ``drift-profile`` (a version whose model card
#: has a reference profile, after 500 rows) and ``event`` (series that the event an alert is
#: about creates: a failed load, a rollback, a cold start; no data before it happened).
Need = Literal[
    "kube-state-metrics", "argo-rollouts", "inferd-up", "gpu", "llm", "drift-profile", "event"
]
#: The needs that exist on one platform only.
ONLY_ON: dict[Need, Platform] = {
    "kube-state-metrics": "kubernetes",
    "argo-rollouts": "kubernetes",
    "inferd-up": "local",
}

#: Longer expressions are written over several lines.
_LINE = 80

Severity = Literal["page", "ticket", "warning", "critical", "info"]


@dataclass(frozen=True, slots=True)
class Rule:
    """One alerting (``alert``) or recording (``record``) rule."""

    kind: Literal["alert", "record"]
    name: str
    expr: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    for_: str | None = None
    #: An alert's expression without its threshold (None for recording rules).
    signal: str | None = None
    needs: frozenset[Need] = frozenset()

    def runs_on(self, platform: Platform) -> bool:
        """Whether every series source the rule needs exists on ``platform``."""
        return all(ONLY_ON.get(n, platform) == platform for n in self.needs)

    def document(self) -> Obj:
        """The rule as a Prometheus rules file (and a PrometheusRule) writes it."""
        out: Obj = {self.kind: self.name, "expr": self.expr}
        if self.for_ is not None:
            out["for"] = self.for_
        if self.labels:
            out["labels"] = dict(self.labels)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out


def alert(
    name: str,
    signal: str,
    condition: str,
    *,
    severity: Severity,
    summary: str,
    description: str,
    labels: dict[str, str] | None = None,
    for_: str | None = None,
    needs: frozenset[Need] = frozenset(),
) -> Rule:
    """An alert on ``signal`` with ``condition`` appended (e.g. ``> 0.01``): the rule's expression
    is ``signal condition``, and ``signal`` stays available on its own."""
    return Rule(
        kind="alert",
        name=name,
        expr=_compare(signal, condition),
        labels={"severity": severity, **(labels or {})},
        annotations={"summary": summary, "description": description},
        for_=for_,
        signal=signal,
        needs=needs,
    )


def _compare(signal: str, condition: str) -> str:
    """``signal condition`` on one line when it is short, else over several (written as a
    YAML literal block, unfolded)."""
    if "\n" in signal:
        return f"{signal} {condition}" if _enclosed(signal) else f"(\n{signal}\n) {condition}"
    if len(signal) + len(condition) > _LINE:
        return f"{signal}\n{condition}"
    return f"{signal} {condition}"


def _enclosed(text: str) -> bool:
    """Whether ``text`` is one parenthesised expression (its first parenthesis closes last)."""
    depth = 0
    for i, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0:
            return i == len(text) - 1 and text[0] == "("
    return False


def record(
    name: str,
    expr: str,
    *,
    labels: dict[str, str] | None = None,
    needs: frozenset[Need] = frozenset(),
) -> Rule:
    return Rule(kind="record", name=name, expr=expr, labels=labels or {}, needs=needs)


@dataclass(frozen=True, slots=True)
class Group:
    """A rule group: evaluated in order, so a rule may read what an earlier one recorded."""

    name: str
    rules: tuple[Rule, ...]
    #: Evaluation interval, when the group's arithmetic depends on it (cost sums samples).
    interval: str | None = None

    def on(self, platform: Platform) -> Group:
        """The group with only the rules that can have data on ``platform``."""
        kept = tuple(r for r in self.rules if r.runs_on(platform))
        return Group(self.name, kept, self.interval)

    def with_runbooks(self, pattern: str) -> Group:
        """The group with each alert's ``runbook_url`` annotation filled in from ``pattern``."""
        rules = tuple(
            replace(r, annotations={**r.annotations, "runbook_url": runbook_link(pattern, r.name)})
            if r.kind == "alert"
            else r
            for r in self.rules
        )
        return Group(self.name, rules, self.interval)

    def document(self) -> Obj:
        out: Obj = {"name": self.name}
        if self.interval is not None:
            out["interval"] = self.interval
        out["rules"] = [r.document() for r in self.rules]
        return out


@dataclass(frozen=True, slots=True)
class RuleExpression:
    """One rule's expression, for a check that evaluates every one against a real Prometheus.

    ``signal`` is what returns data whenever the series exist (an alert's ``expr`` returns data
    only while it fires); ``platforms`` says where the series can exist at all.
    """

    name: str
    kind: Literal["alert", "record"]
    expr: str
    signal: str
    needs: frozenset[Need]
    platforms: frozenset[Platform]
    group: str
    labels: dict[str, str]
