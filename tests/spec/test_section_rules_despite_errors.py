"""A section's own rules are reported beside the field errors in that same section.

Pydantic runs a model's rules only once all its fields are valid, so a bad currency used to hide
the cost section's "not both", and a bad failure_limit a rollout's steps: the user fixed one,
ran the validator again and met the next. Every rule that can still be judged on the valid
fields is reported now, at its line; one that would judge a bad field's stand-in is not.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from inferd.cli import main
from inferd.spec.loading import SpecError, parse_spec

HEAD = """\
apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: fraud
    versions:
      - {name: v1, model: fraud:v1}
"""
NOT_BOTH = "price either per node or per resource"
STEPS = "canary steps are increasing percentages from 1 that end at 100"
DEADLINE = "10 s is shorter than the interval (60 s)"

# (case, text after HEAD, [(line, column, path, fragment of the message)] in file order)
CASES = [
    ("cost: bad currency beside both ways to price",
     "cost:\n  currency: usd\n  price_per_node_hour: 2.0\n  cpu_core_hour: 0.05\n",
     [(8, 13, "cost.currency", "is not an ISO 4217 currency code"),
      (9, 24, "cost.price_per_node_hour", NOT_BOTH)]),
    ("cost: bad discount beside a node shape without its price",
     "cost:\n  cpu_core_hour: 1\n  discount: 2\n  node: {cpu: 8, memory: 1Gi}\n",
     [(9, 13, "cost.discount", "less than 1"),
      (10, 9, "cost.node", "set that price")]),
    ("cost: a bad price is not judged as no price",
     "cost:\n  cpu_core_hour: -1\n",
     [(8, 18, "cost.cpu_core_hour", "greater than or equal to 0")]),
    ("cost: a bad price is not judged as a second way to price",
     "cost:\n  price_per_node_hour: 2.0\n  cpu_core_hour: -1\n",
     [(9, 18, "cost.cpu_core_hour", "greater than or equal to 0")]),
    ("rollout: bad failure_limit beside bad steps and a short deadline",
     "    rollout:\n      steps: [50, 10]\n      interval: 60s\n      progress_deadline: 10s\n"
     "      failure_limit: -1\n",
     [(8, 14, "deployments[0].rollout.steps", STEPS),
      (10, 26, "deployments[0].rollout.progress_deadline", DEADLINE),
      (11, 22, "deployments[0].rollout.failure_limit", "greater than or equal to 0")]),
    ("rollout: a bad interval judges no deadline, the steps still are",
     "    rollout:\n      steps: [50, 10]\n      interval: soon\n      progress_deadline: 10s\n",
     [(8, 14, "deployments[0].rollout.steps", STEPS),
      (9, 17, "deployments[0].rollout.interval", "not a duration")]),
    ("rollout: a bad analysis limit beside an ab rollout without header routes",
     "    rollout:\n      strategy: ab\n      analysis: {max_error_rate: 2}\n",
     [(8, 17, "deployments[0].rollout.strategy", "needs traffic.header_routes"),
      (9, 34, "deployments[0].rollout.analysis.max_error_rate", "less than or equal to 1")]),
    ("autoscaling: bad target beside min above max",
     "    autoscaling: {min_replicas: 5, max_replicas: 2, target: -1}\n",
     [(7, 33, "deployments[0].autoscaling.min_replicas", "is above max_replicas (2)"),
      (7, 61, "deployments[0].autoscaling.target", "greater than 0")]),
    ("gateway: bad timeout beside a gRPC port that is the REST port",
     "gateway:\n  port: 8080\n  grpc_port: 8080\n  request_timeout: banana\n",
     [(9, 14, "gateway.grpc_port", "grpc_port 8080 is the REST port too"),
      (10, 20, "gateway.request_timeout", "not a duration")]),
]  # fmt: skip


@pytest.mark.parametrize(("tail", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_sections_rules_are_reported_beside_its_field_errors(
    tail: str, expected: list[tuple[int, int, str, str]]
) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(HEAD + tail, "inferd.yaml")
    found = [(p.line, p.column, p.path, p.message) for p in caught.value.problems]
    assert [f[:3] for f in found] == [e[:3] for e in expected], found
    for (*_, message), (*_, fragment) in zip(found, expected, strict=True):
        assert fragment in message, found


def test_spec_validate_lists_the_field_error_and_the_rule_in_one_run(tmp_path: Path) -> None:
    path = tmp_path / "inferd.yaml"
    cost = "cost:\n  currency: usd\n  price_per_node_hour: 2.0\n  gpu_hour: {L4: 1}\n"
    path.write_text(HEAD + cost)
    result = CliRunner().invoke(main, ["spec", "validate", str(path)])
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        f"{path}:8:13: cost.currency: 'usd' is not an ISO 4217 currency code: three capital "
        "letters, e.g. 'USD' or 'EUR'",
        f"{path}:9:24: cost.price_per_node_hour: price either per node or per resource "
        "(cpu_core_hour, memory_gib_hour, gpu_hour), not both: a replica would be charged twice",
    ]


TWO_VERSIONS = HEAD + "      - {name: v2, model: %s}\n    traffic: {weights: {v1: 50, v2: 20}}\n"
WEIGHTS = (8, 24, "deployments[0].traffic.weights", "weights add up to 70, not 100")


@pytest.mark.parametrize(
    ("model", "tail", "first"),
    [
        # A required field's bad value: dropping it left its section invalid, which hid the rest.
        ("fraud:v2", "    slo: {availability: 100}\n",
         (9, 25, "deployments[0].slo.availability", "less than 100")),
        ("fraud:v2", "    logging: {sink: {http: {url: 'ftp://x'}}}\n",
         (9, 34, "deployments[0].logging.sink.http.url", "is not an http:// or https:// URL")),
        # A version's model: the weights' sum reads no version, so it is judged all the same.
        ("'Fraud::v2'", "", (7, 27, "deployments[0].versions[1].model", "invalid reference")),
    ],
)  # fmt: skip
def test_a_bad_required_field_hides_no_bad_weight(
    model: str, tail: str, first: tuple[int, int, str, str]
) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(TWO_VERSIONS % model + tail, "inferd.yaml")
    found = sorted((p.line, p.column, p.path, p.message) for p in caught.value.problems)
    expected = sorted([first, WEIGHTS])
    assert [f[:3] for f in found] == [e[:3] for e in expected], found
    for (*_, message), (*_, fragment) in zip(found, expected, strict=True):
        assert fragment in message, found


def test_a_version_without_a_model_hides_its_weights_rule_but_no_other_deployments() -> None:
    """The stand-in is a sibling's model, and the rules that read the versions stay quiet."""
    text = TWO_VERSIONS.replace("{name: v2, model: %s}", "{name: v2}") + (
        "  - name: other\n    versions: [{name: a, model: o:a}, {name: b, model: o:b}]\n"
        "    traffic: {weights: {a: 10, b: 10, c: 80}}\n"
    )
    with pytest.raises(SpecError) as caught:
        parse_spec(text, "inferd.yaml")
    found = [(p.line, p.path, p.message) for p in caught.value.problems]
    assert [(line, path) for line, path, _ in found] == [
        (7, "deployments[0].versions[1].model"),
        (8, "deployments[0].traffic.weights"),
        (11, "deployments[1].traffic.weights.c"),
    ], found
