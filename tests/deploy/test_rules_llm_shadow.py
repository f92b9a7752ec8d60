"""InferdShadowDivergence on a language model's shadow: generated texts compare as labels, and
embeddings by cosine similarity, whose mean distance ``max_divergence`` limits in the rollout
analysis; the alert must read it too, or a shadow that only embeds could never alert
(promtool on the gateway's series, examples/llm's max_divergence of 0.2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .conftest import ROOT, promtool_test_rules, write_rules

LLM_EXAMPLE = ROOT / "examples" / "llm" / "inferd.yaml"
_ON = 'job="inferd",deployment="support-bot",primary="base",shadow="mirror"'


def _embeddings(distance_per_minute: float) -> list[dict[str, str]]:
    """100 embeddings compared a minute, ``distance_per_minute`` their summed cosine distance."""
    name = "inferd_gateway_shadow_divergence"
    on = f'{_ON},output="embedding",kind="cosine_distance"'
    return [
        {"series": f"{name}_sum{{{on}}}", "values": f"0+{distance_per_minute}x30"},
        {"series": f"{name}_count{{{on}}}", "values": "0+100x30"},
    ]


def _texts(differing_per_minute: int) -> list[dict[str, str]]:
    """100 generated answers compared a minute, ``differing_per_minute`` of them different."""
    on = f'{_ON},output="text"'
    return [
        {
            "series": f"inferd_gateway_shadow_differing_elements_total{{{on}}}",
            "values": f"0+{differing_per_minute}x30",
        },
        {"series": f"inferd_gateway_shadow_compared_elements_total{{{on}}}", "values": "0+100x30"},
    ]


def _case(name: str, series: list[dict[str, str]], value: str | None) -> dict[str, Any]:
    fired = {
        "exp_labels": {"severity": "warning", "deployment": "support-bot", "shadow": "mirror"},
        "exp_annotations": {
            "summary": "support-bot: the shadow's answers differ from the primary's",
            "description": f"support-bot: {value} of mirror's answers differ (embeddings: mean "
            "cosine distance) from the primary's over 10m (limit 20%, "
            "rollout.analysis.max_divergence).",
        },
    }
    return {
        "name": name,
        "interval": "1m",
        "input_series": series,
        "alert_rule_test": [
            {
                "eval_time": "20m",
                "alertname": "InferdShadowDivergence",
                "exp_alerts": [fired] if value is not None else [],
            }
        ],
    }


def test_a_shadows_embeddings_alert_on_their_cosine_distance(promtool: str, tmp_path: Path) -> None:
    write_rules(tmp_path, LLM_EXAMPLE, "--local")
    tests = [
        # A mean distance of 30%, over the 20% limit.
        _case("embeddings far from the primary's", _embeddings(30), "30%"),
        _case("embeddings close to the primary's", _embeddings(5), None),
        # Where texts were compared, their share is what counts (as in the analysis).
        _case("differing texts", _texts(25), "25%"),
        _case("same texts, embeddings apart", _texts(0) + _embeddings(30), None),
    ]
    promtool_test_rules(promtool, tmp_path, tests)
