"""Prometheus rules generated from the spec: alerts, SLO burn rates and error budgets, cost.

``inferd k8s render`` emits them as a PrometheusRule, ``inferd k8s rules`` as a plain rules file
(for a cluster, or with ``--local`` for a Prometheus scraping ``inferd up``), and
:func:`all_rule_expressions` lists every expression for checks against a real Prometheus.
docs/alerts.md describes each rule.
"""

from inferd.deploy.rules.build import (
    all_rule_expressions,
    prometheus_rule,
    rule_groups,
    rules_file,
)
from inferd.deploy.rules.model import Group, Platform, Rule, RuleExpression

__all__ = [
    "Group",
    "Platform",
    "Rule",
    "RuleExpression",
    "all_rule_expressions",
    "prometheus_rule",
    "rule_groups",
    "rules_file",
]
