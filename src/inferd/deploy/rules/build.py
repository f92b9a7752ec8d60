"""The rule groups of a stack, as a PrometheusRule object, a plain rules file, or a list.

Three groups, named after the stack: ``inferd.{stack}.slo`` (error-ratio recording rules and
burn-rate alerts, when a deployment has an ``slo``), ``inferd.{stack}.alerts``, and
``inferd.{stack}.cost`` (on a cluster, when the spec has ``cost``). The SLO group records before
it alerts, and groups are evaluated in order of their rules, so an alert reads what was just
recorded.
"""

from __future__ import annotations

from inferd.deploy.k8s_options import K8sOptions
from inferd.deploy.kustomize import to_yaml
from inferd.deploy.objects import Obj, labels, metadata, obj
from inferd.deploy.rules.alerts import all_alerts
from inferd.deploy.rules.cost import cost_rules
from inferd.deploy.rules.model import PLATFORMS, Group, Platform, RuleExpression
from inferd.deploy.rules.slo import deployment_slo
from inferd.spec.model import Spec


def rule_groups(spec: Spec, options: K8sOptions, platform: Platform) -> list[Group]:
    """The groups of ``spec`` for a Prometheus on ``platform``, holding only rules whose series
    can exist there (empty groups left out).

    Raises InvalidArgument when the cost section cannot be priced on a cluster.
    """
    stack = spec.metadata.name
    slo = [r for d in spec.deployments for r in deployment_slo(d, options, platform)]
    groups = [
        Group(f"inferd.{stack}.slo", tuple(slo)),
        Group(f"inferd.{stack}.alerts", tuple(all_alerts(spec, options, platform))),
    ]
    if platform == "kubernetes":
        groups.append(Group(f"inferd.{stack}.cost", tuple(cost_rules(spec, options))))
    kept = [g.on(platform) for g in groups]
    if options.runbook_url is not None:
        kept = [g.with_runbooks(options.runbook_url) for g in kept]
    return [g for g in kept if g.rules]


def rules_document(groups: list[Group]) -> Obj:
    """A Prometheus rules file (``rule_files``) as a document."""
    return {"groups": [g.document() for g in groups]}


def rules_file(spec: Spec, options: K8sOptions, platform: Platform) -> str:
    """The plain rules file of ``spec`` for ``platform``, as YAML text."""
    where = "a cluster" if platform == "kubernetes" else "inferd up's gateway /metrics"
    header = (
        f"# Prometheus rules of stack {spec.metadata.name!r} for a Prometheus scraping {where},\n"
        "# generated from its spec by `inferd k8s rules` (docs/alerts.md): regenerate it.\n"
    )
    return header + to_yaml(rules_document(rule_groups(spec, options, platform)))


def prometheus_rule(spec: Spec, options: K8sOptions) -> Obj:
    """The stack's PrometheusRule (Prometheus operator), named after it like its ServiceMonitor."""
    groups = rule_groups(spec, options, "kubernetes")
    meta = metadata(spec.metadata.name, options, labels(spec))
    return obj("monitoring.coreos.com/v1", "PrometheusRule", meta, rules_document(groups))


def all_rule_expressions(spec: Spec, options: K8sOptions | None = None) -> list[RuleExpression]:
    """Every alerting and recording expression of ``spec``, on either platform.

    An expression that reads the same on both platforms is listed once, with both in
    ``platforms``; with ``options.namespace`` set the cluster's expressions carry it and are
    listed apart from the local ones. ``needs`` names the series sources beyond inferd's servers
    (kube-state-metrics, Argo Rollouts, a GPU, ``inferd up``'s gateway).
    """
    options = options or K8sOptions()
    found: dict[tuple[str, str, str, str], RuleExpression] = {}
    for platform in PLATFORMS:
        for group in rule_groups(spec, options, platform):
            for rule in group.rules:
                key = (group.name, rule.name, rule.expr, repr(sorted(rule.labels.items())))
                seen = found.get(key)
                platforms = frozenset({platform}) | (seen.platforms if seen else frozenset())
                found[key] = RuleExpression(
                    name=rule.name,
                    kind=rule.kind,
                    expr=rule.expr,
                    signal=rule.signal if rule.signal is not None else rule.expr,
                    needs=rule.needs,
                    platforms=platforms,
                    group=group.name,
                    labels=dict(rule.labels),
                )
    return list(found.values())
