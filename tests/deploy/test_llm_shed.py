"""A language model that sheds load (503: its queue full, its replica unloading) fails its
users: the generation SLO and error-rate alert count ``finish_reason="shed"`` as bad, while a
client's over-context 400 (``rejected``) and cancelled generations stay out (promtool runs the
generated rules on synthetic series)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .conftest import promtool_test_rules, write_rules
from .test_rules_llm_slo import SPEC, _case, _durations, _endings

ANNOTATIONS = {
    "summary": "bot: more than 1% of generations fail",
    "description": "bot/v1: 50% of generations failed (a deadline passed, the engine stopped) "
    "or were shed (503: queue full) over 5m (limit 1%, inferd's default).",
}


def _error_rate_case(name: str, series: list[dict[str, str]], fires: bool) -> dict[str, Any]:
    labels = {"severity": "warning", "deployment": "bot", "version": "v1"}
    return {
        "name": name,
        "interval": "1m",
        "input_series": series,
        "alert_rule_test": [
            {
                "eval_time": "80m",
                "alertname": "InferdGenerationErrorRateHigh",
                "exp_alerts": [{"exp_labels": labels, "exp_annotations": ANNOTATIONS}]
                if fires
                else [],
            }
        ],
    }


def test_shed_generations_burn_the_slo_and_rejected_ones_do_not(
    promtool: str, tmp_path: Path
) -> None:
    spec = tmp_path / "inferd.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    write_rules(tmp_path, spec, "--local")
    fast = _durations({"2.56": 50, "5.12": 50, "+Inf": 50}, 50)
    # Half the traffic refused with 503: the model serves 50 of 100 requests a minute.
    shedding = _endings({"stop": 50, "length": 0, "error": 0, "shed": 50, "rejected": 0})
    # Half the traffic over the context (400): the clients' doing.
    rejecting = _endings({"stop": 50, "length": 0, "error": 0, "shed": 0, "rejected": 50})
    tests = [
        _case("shedding half", shedding + fast, "availability"),
        _error_rate_case("shedding half: error rate", shedding + fast, True),
        _case("rejecting half", rejecting + fast, None),
        _error_rate_case("rejecting half: error rate", rejecting + fast, False),
    ]
    promtool_test_rules(promtool, tmp_path, tests)
