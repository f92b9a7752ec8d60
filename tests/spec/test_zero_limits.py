"""More durations that must be above zero: a deployment's request_timeout of 0 s passed
`inferd spec validate` and then crashed `inferd up` with a traceback (every replica's server
refuses a timeout of 0); a payload sink's delivery timeout of 0 fails every delivery; a latency
limit of 0 can never be met."""

from __future__ import annotations

import pytest

from inferd.spec.loading import SpecError, parse_spec

from .conftest import ONE_DEPLOYMENT

SPEC = (
    ONE_DEPLOYMENT
    + """\
    request_timeout: 5s
    logging: {sink: {http: {url: "http://collector:8080/events", timeout: 5s}}}
    rollout:
      strategy: blue-green
      analysis: {max_latency_p99: 250ms, max_ttft_p95: 500ms, max_inter_token_latency_p95: 50ms}
    slo: {availability: 99.9, latency_p99: 250ms}
"""
)


@pytest.mark.parametrize(
    ("setting", "line", "path"),
    [
        ("request_timeout: 5s", 6, "deployments[0].request_timeout"),
        ('events", timeout: 5s', 7, "deployments[0].logging.sink.http.timeout"),
        ("max_latency_p99: 250ms", 10, "deployments[0].rollout.analysis.max_latency_p99"),
        ("max_ttft_p95: 500ms", 10, "deployments[0].rollout.analysis.max_ttft_p95"),
        (
            "max_inter_token_latency_p95: 50ms",
            10,
            "deployments[0].rollout.analysis.max_inter_token_latency_p95",
        ),
        ("latency_p99: 250ms}", 11, "deployments[0].slo.latency_p99"),
    ],
)
def test_a_zero_timeout_or_latency_limit_is_refused_at_its_line(
    setting: str, line: int, path: str
) -> None:
    assert parse_spec(SPEC).deployments  # valid as written
    key, _, rest = setting.rpartition(":")
    zero = f"{key}: 0s" + ("}" if rest.endswith("}") else "")
    with pytest.raises(SpecError) as caught:
        parse_spec(SPEC.replace(setting, zero, 1), "inferd.yaml")
    problems = [(p.line, p.path, p.message) for p in caught.value.problems]
    assert [(line, path)] == [(at, where) for at, where, _ in problems], problems
    assert "greater than 0" in problems[0][2]
