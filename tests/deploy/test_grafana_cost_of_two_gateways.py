"""The fleet dashboard's money panels with two ``inferd up`` gateways scraped by one Prometheus
(two hosts, or a staging stack beside production): each exports its own ``inferd_cost_info``,
so a currency joined ``on ()`` matched two series and Prometheus refused every money query
("many-to-many matching not allowed"). Each gateway's amounts take the currency of its own
``inferd_cost_info``; evaluated by Prometheus' own engine (promtool)."""

from __future__ import annotations

from pathlib import Path

from deploy.promql_names import substitute
from inferd.deploy.grafana import DASHBOARDS

from .conftest import promql_at_5m

#: Two gateways (targets): ``a`` serves fraud and cold, ``b`` serves fraud too, in euros.
A, B = 'job="inferd",instance="a:8080"', 'job="inferd",instance="b:8080"'
SERIES = [
    (f'inferd_cost_info{{{A},currency="USD"}}', "1x6"),
    (f'inferd_cost_info{{{B},currency="EUR"}}', "1x6"),
    # 0.06 an hour: 0.001 a minute.
    (f'inferd_cost_held_total{{{A},deployment="fraud",version="v1"}}', "0+0.001x6"),
    (f'inferd_cost_held_total{{{A},deployment="cold",version="v1"}}', "0+0.002x6"),
    (f'inferd_cost_held_total{{{B},deployment="fraud",version="v1"}}', "0+0.003x6"),
    (f'inferd_cost_idle_total{{{A},deployment="fraud",version="v1"}}', "0+0.0005x6"),
    (f'inferd_cost_idle_total{{{B},deployment="fraud",version="v1"}}', "0+0.0005x6"),
    (f'inferd_cost_per_1k_predictions{{{A},deployment="fraud",version="v1"}}', "0.25x6"),
    (f'inferd_cost_per_1k_predictions{{{B},deployment="fraud",version="v1"}}', "0.5x6"),
    (f'inferd_cost_scale_to_zero_savings_total{{{A},deployment="cold",version="v1"}}', "0+0.01x6"),
]


#: Grafana's intervals: rates over 3 minutes, the time range 5 minutes.
INTERVALS = {"$__rate_interval": "3m", "$__range": "5m"}


def _query(title: str) -> str:
    (panel,) = [p for p in DASHBOARDS["fleet"].panels() if p.title == title]
    (query,) = panel.queries
    return substitute(
        query.expr,
        {"namespace": ".*", "deployment": ".*"},
        {"$__rate_interval": "3m", "$__range": "5m"},
    )


def _in(currency: str, deployment: str) -> str:
    """A vector of 1 labelled with ``currency`` and ``deployment``, to pick one answer."""
    one = f'label_replace(vector(1), "currency", "{currency}", "", "")'
    return f'label_replace({one}, "deployment", "{deployment}", "", "")'


def test_money_panels_answer_per_currency_with_two_gateways(promtool: str, tmp_path: Path) -> None:
    per_hour = _query("Cost per hour by deployment")
    idle = _query("Idle cost per hour by deployment")
    per_1k = _query("Cost per 1,000 predictions")
    saved = _query("Saved by scaling to zero")
    fraud_usd, fraud_eur, cold_usd = _in("USD", "fraud"), _in("EUR", "fraud"), _in("USD", "cold")
    promql_at_5m(
        promtool,
        tmp_path,
        SERIES,
        {
            f"count({per_hour})": 3,
            f"sum({per_hour} and on (currency, deployment) {fraud_usd})": 0.06,
            f"sum({per_hour} and on (currency, deployment) {fraud_eur})": 0.18,
            f"sum({per_hour} and on (currency, deployment) {cold_usd})": 0.12,
            f"sum({idle} and on (currency, deployment) {fraud_eur})": 0.03,
            f"count({per_1k})": 2,
            f"sum({per_1k} and on (currency, deployment) {fraud_eur})": 0.5,
            f"sum({saved} and on (currency, deployment) {cold_usd})": 0.05,
        },
    )
