"""The defaults and limits the docs quote are the code's.

Each check pairs a sentence of a doc (as it is written there) with the constant or default it
states, so a changed constant fails here until the doc says the new number.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from inferd.config import WAITING_SEQS
from inferd.control.autoscale.coldstart import DEFAULT_MAX_HELD
from inferd.control.autoscale.decision import ScalingPolicy
from inferd.control.cost.sampler import DEFAULT_INTERVAL_S, KEEP_S
from inferd.observe.drift import MAX_VALUES_PER_BATCH, MIN_SAMPLES
from inferd.observe.profile import MAX_FEATURES
from inferd.spec.policies import AnalysisSpec, AutoscalingSpec, RolloutSpec
from inferd.spec.types import parse_duration

ROOT = Path(__file__).resolve().parents[2]


def doc(name: str) -> str:
    """A doc's text with its lines joined, so a sentence is found across a line break."""
    return re.sub(r"\s*\n\s*", " ", (ROOT / "docs" / name).read_text(encoding="utf-8"))


def thousands(value: int) -> str:
    """A number as the docs write it: 4,096."""
    return f"{value:,}"


def test_the_llm_runtime_limits() -> None:
    runtime = pytest.importorskip("inferd.runtimes.llamacpp.runtime")
    text = doc("llm.md")
    assert f"| slots (sequences decoded together) | {runtime.SLOTS};" in text
    assert f"at most {thousands(runtime.MAX_CONTEXT)} tokens" in text
    assert f"| KV cache | {thousands(runtime.KV_CELLS)} cells" in text
    assert f"| batch | {runtime.BATCH} tokens" in text
    assert f"| waiting generations | {runtime.MAX_WAITING}; " in text
    low, high = WAITING_SEQS
    assert f"`llm.max_waiting_seqs` ({low} to {thousands(high)}:" in text
    assert f"for up to {runtime.CLOSE_TIMEOUT_S:g} s" in text


def test_the_autoscaling_defaults() -> None:
    """The autoscaling.md snippet's windows, rates and timeouts are the defaults, and the
    numbers its text gives for the hold and for scale to zero are the code's."""
    text = (ROOT / "docs" / "autoscaling.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)
    shown = yaml.safe_load(block)["autoscaling"]
    defaults = AutoscalingSpec()
    for key in ("stable_window", "panic_window", "scale_up_window", "scale_down_window",
                "cold_start_timeout"):  # fmt: skip
        assert parse_duration(shown[key]) == getattr(defaults, key), key
    for key in ("panic_threshold", "max_scale_up_rate", "max_scale_down_rate", "max_replicas"):
        assert shown[key] == getattr(defaults, key), key
    assert parse_duration(shown["scale_to_zero_after"]) == ScalingPolicy.DEFAULT_ZERO_AFTER_S
    joined = doc("autoscaling.md")
    assert f"at most {DEFAULT_MAX_HELD} per deployment" in joined
    assert f"({ScalingPolicy.DEFAULT_ZERO_AFTER_S / 60:g} minutes when it is left out" in joined


def test_the_rollout_defaults() -> None:
    text = doc("rollouts.md")
    interval = RolloutSpec().interval
    assert f"10 minutes at the default `{interval / 60:g}m`" in text
    assert f"min_requests: {AnalysisSpec().min_requests} " in text
    assert f"failure_limit: {RolloutSpec().failure_limit} " in text


def test_the_drift_limits() -> None:
    text = doc("metrics.md")
    assert f"a profile holds at most {MAX_FEATURES} features" in text
    assert f"about {MAX_VALUES_PER_BATCH} values a batch at most" in text
    assert f"Absent until the input has seen {MIN_SAMPLES} rows" in text
    assert f"until a replica has seen {MIN_SAMPLES} rows" in doc("rollouts.md").replace(
        "Until", "until"
    )


def test_the_cost_sampler() -> None:
    text = doc("cost.md")
    assert f"measures every replica every {DEFAULT_INTERVAL_S:g} seconds" in text
    assert f"the sampler keeps {KEEP_S / 3600:g} hours" in text
