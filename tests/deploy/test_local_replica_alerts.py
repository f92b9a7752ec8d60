"""The replica alerts of ``inferd up`` (``--local``) cover every version: the autoscaler's series
exist only for the versions it scales (the quickstart's main ``v1``), so a canary (``v2``) or a
shadow whose replicas never get ready must show in ``inferd_replicas`` by state, which the
supervisor exports for every routed version (promtool runs the generated rules)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .conftest import QUICKSTART, promtool_test_rules, write_rules

_GATEWAY = 'instance="127.0.0.1:8080",job="inferd",deployment="fraud"'


def _replicas(version: str, **states: str) -> list[dict[str, str]]:
    every = {"starting": "0x40", "ready": "0x40", "draining": "0x40", "failed": "0x40"}
    return [
        {
            "series": f'inferd_replicas{{{_GATEWAY},version="{version}",state="{state}"}}',
            "values": values,
        }
        for state, values in {**every, **states}.items()
    ]


def _scaled(version: str, desired: str, ready: str) -> list[dict[str, str]]:
    on = f'{{{_GATEWAY},version="{version}"}}'
    return [
        {"series": f"inferd_autoscaler_desired_replicas{on}", "values": desired},
        {"series": f"inferd_autoscaler_ready_replicas{on}", "values": ready},
    ]


def _fired(alert: str, version: str, value: int) -> dict[str, Any]:
    what = f"fraud/{version}"
    if alert == "InferdNoReadyReplicas":
        severity, summary = "critical", f"{what}: no replica is ready"
        description = (
            f"{what} wants replicas but none has been ready for 5m: fraud answers nothing from "
            "it (scaled-from-zero starts hold requests up to cold_start_timeout)."
        )
    else:
        severity, summary = "warning", f"{what}: replicas are not ready"
        description = (
            f"{value} of {what}'s wanted replicas have not been ready for 15m (starting, "
            "crash-looping, or not schedulable)."
        )
    labels = {"severity": severity, "instance": "127.0.0.1:8080", "job": "inferd"}
    return {
        "exp_labels": {**labels, "deployment": "fraud", "version": version},
        "exp_annotations": {"summary": summary, "description": description},
    }


def _case(
    name: str, series: list[dict[str, str]], fired: dict[str, list[tuple[str, int]]]
) -> dict[str, Any]:
    return {
        "name": name,
        "interval": "1m",
        "input_series": series,
        "alert_rule_test": [
            {
                "eval_time": "30m",
                "alertname": alert,
                "exp_alerts": [_fired(alert, v, n) for v, n in fired.get(alert, [])],
            }
            for alert in ("InferdNoReadyReplicas", "InferdReplicasUnavailable")
        ],
    }


def test_a_canary_or_shadow_without_a_ready_replica_alerts(promtool: str, tmp_path: Path) -> None:
    write_rules(tmp_path, QUICKSTART, "--local")
    main = _scaled("v1", "2x40", "2x40") + _replicas("v1", ready="2x40")
    healthy = [
        *main,
        *_replicas("v2", ready="1x40"),
        *_replicas("v2-shadow", ready="1x40"),
    ]
    canary_down = [*main, *_replicas("v2", failed="1x40"), *_replicas("v2-shadow", ready="1x40")]
    shadow_down = [*main, *_replicas("v2", ready="1x40"), *_replicas("v2-shadow", starting="1x40")]
    # The main version scales up to 3 and gets 1 more ready only.
    main_short = [
        *_scaled("v1", "3x40", "2x40"),
        *_replicas("v1", ready="2x40", starting="1x40"),
        *_replicas("v2", ready="1x40"),
        *_replicas("v2-shadow", ready="1x40"),
    ]
    # The main version wants 1 whose start keeps failing: the autoscaler's series tell.
    main_down = [
        *_scaled("v1", "1x40", "0x40"),
        *_replicas("v1"),
        *_replicas("v2", ready="1x40"),
        *_replicas("v2-shadow", ready="1x40"),
    ]
    both = [("v1", 0)]
    tests = [
        _case("every version ready", healthy, {}),
        _case(
            "the canary crash-loops",
            canary_down,
            {"InferdNoReadyReplicas": [("v2", 0)], "InferdReplicasUnavailable": [("v2", 1)]},
        ),
        _case(
            "the shadow never gets ready",
            shadow_down,
            {
                "InferdNoReadyReplicas": [("v2-shadow", 0)],
                "InferdReplicasUnavailable": [("v2-shadow", 1)],
            },
        ),
        _case(
            "the main version is one short", main_short, {"InferdReplicasUnavailable": [("v1", 1)]}
        ),
        _case(
            "the main version cannot start",
            main_down,
            {"InferdNoReadyReplicas": both, "InferdReplicasUnavailable": [("v1", 1)]},
        ),
    ]
    promtool_test_rules(promtool, tmp_path, tests)
