"""The spec: every problem reported with its line and column, the example valid, the schema
committed in docs/ equal to the generated one, and the value types parsed as Kubernetes does."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from inferd.cli import main
from inferd.spec.loading import SpecError, load_spec, parse_spec
from inferd.spec.model import json_schema
from inferd.spec.types import parse_duration, parse_quantity

from .conftest import QUICKSTART, ROOT

VALID = """\
apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: fraud
    versions:
      - name: v1
        model: fraud:v1
        replicas: 2
      - name: v2
        model: fraud:v2
    resources:
      memory: 512Mi
    traffic:
      weights:
        v1: 90
        v2: 10
"""


def _with(old: str, new: str) -> str:
    assert old in VALID
    return VALID.replace(old, new)


#: A canary whose analysis could never wait an interval for its requests.
SHORT_DEADLINE = """\
    rollout:
      strategy: canary
      steps: [100]
      interval: 1m
      progress_deadline: 30s
"""
#: A blue-green rollout with latency limits: the gateway times the mirrored copies its
#: candidate answers.
BLUE_GREEN_LATENCY = """\
    rollout:
      strategy: blue-green
      analysis:
        max_latency_p99: 250ms
        max_latency_ratio: 1.5
"""

# (case, document, [(line, column, fragment of the message)])
CASES = [
    ("unknown key", _with("        replicas: 2\n", "        replicas: 2\n        replica: 3\n"),
     [(9, 9, "unknown key")]),
    ("weights not summing", _with("v2: 10", "v2: 5"), [(15, 9, "add up to 95, not 100")]),
    ("bad quantity", _with("memory: 512Mi", "memory: 1GB"),
     [(12, 15, "not a Kubernetes quantity")]),
    ("duplicate versions", _with("name: v2", "name: v1"),
     [(9, 15, "'v1' appears 2 times"), (16, 9, "'v2' is not a version")]),
    ("weight for no version", _with("v2: 10", "v3: 10"),
     [(16, 9, "'v3' is not a version of 'fraud'")]),
    ("shadow not a version", _with("        v2: 10\n", "        v2: 10\n      shadow: v9\n"),
     [(17, 15, "'v9' is not a version")]),
    ("name not a DNS label", _with("name: fraud", "name: Fraud_Model"), [(4, 11, "DNS-1123")]),
    ("bad reference", _with("model: fraud:v2", "model: 'fraud:'"), [(10, 16, "invalid reference")]),
    ("missing key", _with("kind: Stack\n", ""), [(1, 1, "'kind' is missing")]),
    ("duplicate YAML key", _with("kind: Stack\n", "kind: Stack\nkind: Stack\n"),
     [(3, 1, "'kind' appears twice")]),
    ("YAML syntax", _with("    versions:\n", "    versions: [\n"), [(6, 7, "not valid YAML")]),
    ("typo beside a wrong weight",
     _with("        replicas: 2\n", "        replica: 2\n").replace("v2: 10", "v2: 5"),
     [(8, 9, "unknown key"), (15, 9, "add up to 95")]),
    ("bad weight hides no other rule, invents none",
     _with("v1: 90", "v1: 900").replace("memory: 512Mi", "memory: 1GB"),
     [(12, 15, "not a Kubernetes quantity"), (15, 13, "less than or equal to 100")]),
    ("duplicate deployments beside a field error",
     VALID + VALID[VALID.index("  - name: fraud"):].replace("replicas: 2", "replicas: x"),
     [(17, 11, "deployment 'fraud' appears 2 times"), (21, 19, "a whole number, got 'x'")]),
    ("several at once",
     _with("replicas: 2", "replicas: -1").replace("memory: 512Mi", "memory: lots"),
     [(8, 19, "greater than or equal to 0"), (12, 15, "not a Kubernetes quantity")]),
    ("progress deadline within an interval", VALID + SHORT_DEADLINE,
     [(21, 26, "30 s is shorter than the interval (60 s)")]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("document", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_every_problem_is_located(document: str, expected: list[tuple[int, int, str]]) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(document, "inferd.yaml")
    found = [(p.line, p.column, p.message) for p in caught.value.problems]
    assert len(found) == len(expected), found
    for (line, column, message), (want_line, want_column, fragment) in zip(
        found, expected, strict=True
    ):
        assert (line, column) == (want_line, want_column), found
        assert fragment in message
    assert str(caught.value).startswith("inferd.yaml: ")


def test_cross_field_rules() -> None:
    """Rules that span sections: cuda needs a GPU, min <= max, canary steps end at 100."""
    document = (
        VALID
        + """\
    runtime:
      device: cuda
    rollout:
      strategy: canary
      steps: [10, 50]
    autoscaling:
      min_replicas: 3
      max_replicas: 2
"""
    )
    with pytest.raises(SpecError) as caught:
        parse_spec(document)
    paths = {p.path for p in caught.value.problems}
    assert paths == {
        "deployments[0].runtime.device",
        "deployments[0].rollout.steps",
        "deployments[0].autoscaling.min_replicas",
    }


#: Two deployments behind a gateway, valid; each spec-wide case below changes a little of it.
STACK = """\
apiVersion: inferd.dev/v1
kind: Stack
gateway:
  request_timeout: 10s
deployments:
  - name: fraud
    versions:
      - {name: v1, model: fraud:v1}
    request_timeout: 5s
    resources:
      cpu: 500m
  - name: scoring
    versions:
      - {name: v1, model: scoring:v1}
"""
THIRD_FRAUD = "  - name: fraud\n    versions:\n      - {name: v1, model: fraud:v1}\n"
BOTH_PRICES = "cost:\n  price_per_node_hour: 0.4\n  cpu_core_hour: 0.1\n"
SHORT_GATEWAY = ("request_timeout: 10s", "request_timeout: 1s")
TWO_FRAUDS = ("name: scoring", "name: fraud")
BAD_CPU = ("cpu: 500m", "cpu: lots")
TIMEOUT = ("deployments[0].request_timeout", "5 s is longer than gateway.request_timeout (1 s)")
DUPLICATE = ("deployments[1].name", "deployment 'fraud' appears 2 times")
NOT_BOTH = ("cost.price_per_node_hour", "price either per node or per resource")
CPU = ("deployments[0].resources.cpu", "'lots' is not a Kubernetes quantity")


def _stack(*edits: tuple[str, str], tail: str = "") -> str:
    document = STACK
    for old, new in edits:
        assert old in document
        document = document.replace(old, new)
    return document + tail


# (case, document, [(path, fragment of the message)] in file order)
SPEC_WIDE_CASES = [
    ("duplicate deployment", _stack(TWO_FRAUDS), [DUPLICATE]),
    ("three copies", _stack(TWO_FRAUDS, tail=THIRD_FRAUD),
     [("deployments[1].name", "deployment 'fraud' appears 3 times"),
      ("deployments[2].name", "deployment 'fraud' appears 3 times")]),
    ("timeout beyond the gateway's", _stack(SHORT_GATEWAY), [TIMEOUT]),
    ("timeout and duplicate", _stack(SHORT_GATEWAY, TWO_FRAUDS), [TIMEOUT, DUPLICATE]),
    ("timeout beside a cost problem", _stack(SHORT_GATEWAY, tail=BOTH_PRICES),
     [TIMEOUT, NOT_BOTH]),
    ("timeout beside a bad cpu", _stack(SHORT_GATEWAY, BAD_CPU), [TIMEOUT, CPU]),
    ("duplicate beside a cost problem", _stack(TWO_FRAUDS, tail=BOTH_PRICES),
     [DUPLICATE, NOT_BOTH]),
    ("duplicate beside a bad cpu", _stack(TWO_FRAUDS, BAD_CPU), [CPU, DUPLICATE]),
    ("all of them", _stack(SHORT_GATEWAY, TWO_FRAUDS, BAD_CPU, tail=BOTH_PRICES),
     [TIMEOUT, CPU, DUPLICATE, NOT_BOTH]),
    ("timeout beside a deployment's own rule",
     _stack(SHORT_GATEWAY, tail="    traffic: {weights: {v1: 50}}\n"),
     [TIMEOUT, ("deployments[1].traffic.weights", "weights add up to 50, not 100")]),
    ("timeout beside the gateway's own rule",
     _stack(SHORT_GATEWAY, ("gateway:\n", "gateway:\n  port: 65535\n")),
     [("gateway.port", "port 65535 leaves no port + 1"), TIMEOUT]),
    ("default gateway timeout beside a cost problem",
     _stack(("gateway:\n  request_timeout: 10s\n", ""), ("timeout: 5s", "timeout: 60s"),
            tail=BOTH_PRICES),
     [("deployments[0].request_timeout", "60 s is longer than gateway.request_timeout (30 s)"),
      NOT_BOTH]),
    ("bad gateway timeout judges no deployment's",
     _stack(("request_timeout: 10s", "request_timeout: soon")),
     [("gateway.request_timeout", "not a duration")]),
    ("bad deployment timeout is not judged",
     _stack(SHORT_GATEWAY, ("timeout: 5s", "timeout: 5 parsecs")),
     [("deployments[0].request_timeout", "not a duration")]),
    ("gateway not a mapping judges no timeout",
     _stack(("gateway:\n  request_timeout: 10s\n", "gateway: 1s\n")),
     [("gateway", "expected a mapping (key: value)")]),
    ("bad names are not compared",
     _stack(("name: fraud", "name: Fraud"), ("name: scoring", "name: Fraud")),
     [("deployments[0].name", "DNS-1123"), ("deployments[1].name", "DNS-1123")]),
    ("a missing name is compared with none",
     _stack(TWO_FRAUDS, ("  - name: fraud\n    versions:\n      - {name: v1, model: scoring",
                         "  - versions:\n      - {name: v1, model: scoring"), tail=THIRD_FRAUD),
     [("deployments[1].name", "required key 'name' is missing"),
      ("deployments[2].name", "deployment 'fraud' appears 2 times")]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("document", "expected"),
    [c[1:] for c in SPEC_WIDE_CASES],
    ids=[c[0] for c in SPEC_WIDE_CASES],
)
def test_spec_wide_rules_despite_errors_elsewhere(
    document: str, expected: list[tuple[str, str]]
) -> None:
    """A rule across sections (deployment names unique, timeouts within the gateway's) reports
    each problem once, beside errors in other fields, and judges no value that has an error."""
    with pytest.raises(SpecError) as caught:
        parse_spec(document)
    found = [(p.path, p.message) for p in caught.value.problems]
    assert [path for path, _ in found] == [path for path, _ in expected], found
    for (_, message), (_, fragment) in zip(found, expected, strict=True):
        assert fragment in message, found


def test_cli_validate_reports_a_duplicate_deployment_once(tmp_path: Path) -> None:
    path = tmp_path / "dupdep.yaml"
    path.write_text(STACK)
    assert CliRunner().invoke(main, ["spec", "validate", str(path)]).exit_code == 0
    path.write_text(_stack(TWO_FRAUDS))
    result = CliRunner().invoke(main, ["spec", "validate", str(path)])
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        f"{path}:12:11: deployments[1].name: deployment 'fraud' appears 2 times"
    ]
    result = CliRunner().invoke(main, ["spec", "validate", "--json", str(path)])
    assert [p["path"] for p in orjson.loads(result.stdout)["problems"]] == ["deployments[1].name"]


def test_blue_green_latency_limits_are_accepted() -> None:
    rollout = parse_spec(VALID + BLUE_GREEN_LATENCY).deployments[0].rollout
    assert rollout is not None
    assert (rollout.analysis.max_latency_p99, rollout.analysis.max_latency_ratio) == (0.25, 1.5)


def test_quickstart_spec_is_valid() -> None:
    spec = load_spec(QUICKSTART / "inferd.yaml")
    fraud = spec.deployments[0]
    assert fraud.weights() == {"v1": 90, "v2": 10, "v2-shadow": 0}
    assert fraud.traffic.shadow == "v2-shadow"
    assert [v.replicas for v in fraud.versions] == [2, 1, 1]


def test_committed_schema_is_current() -> None:
    """docs/inferd.schema.json is what `inferd spec schema` prints (regenerate it if not)."""
    committed = orjson.loads((ROOT / "docs" / "inferd.schema.json").read_bytes())
    assert committed == json_schema()


def test_schema_forbids_unknown_keys_everywhere() -> None:
    schema = json_schema()
    objects = [schema, *schema["$defs"].values()]
    assert all(o.get("additionalProperties") is False for o in objects if o.get("type") == "object")


@pytest.mark.parametrize(
    ("text", "value"),
    [("500m", Decimal("0.5")), ("2", Decimal(2)), ("512Mi", Decimal(512 * 2**20)),
     ("1G", Decimal(10**9)), ("1.5Gi", Decimal(3 * 2**29)), ("1e3", Decimal(1000))],
)  # fmt: skip
def test_quantities(text: str, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["1GB", "", "-1", "1.2.3", "Mi", "10 Mi"])
def test_bad_quantities(text: str) -> None:
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        parse_quantity(text)


@pytest.mark.parametrize(
    ("text", "seconds"), [("250ms", 0.25), ("30s", 30.0), ("5m", 300.0), ("1h", 3600.0),
                          ("1m30s", 90.0)]
)  # fmt: skip
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("value", [30, "30", "s", "1w", "-1s"])
def test_bad_durations(value: object) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(value)


def test_cli_validate_prints_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(_with("v2: 10", "v2: 5").replace("kind: Stack", "kind: Stack\ncolour: red"))
    result = CliRunner().invoke(main, ["spec", "validate", str(path)])
    assert result.exit_code == 2
    assert f"{path}:3:1: colour: unknown key" in result.output
    assert f"{path}:16:9: deployments[0].traffic.weights: weights add up to 95" in result.output
    result = CliRunner().invoke(main, ["spec", "validate", "--json", str(path)])
    assert result.exit_code == 2
    report = orjson.loads(result.stdout)
    assert report["valid"] is False
    assert [(p["line"], p["column"]) for p in report["problems"]] == [(3, 1), (16, 9)]


@pytest.mark.parametrize(
    ("content", "where", "message"),
    [
        (b"apiVersion: inferd.dev/v1\nkind: St\xffack\n", (2, 9), "not UTF-8 text (byte 34)"),
        (b"#" * (1024 * 1024 + 1), (1, 1), "a spec is at most 1048576 bytes"),
    ],
)
def test_cli_validate_json_reports_a_file_it_cannot_read_as_a_problem(
    tmp_path: Path, content: bytes, where: tuple[int, int], message: str
) -> None:
    """A spec that is not UTF-8 or is too large is still answered in JSON with --json."""
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    result = CliRunner().invoke(main, ["spec", "validate", "--json", str(path)])
    assert result.exit_code == 2
    (problem,) = orjson.loads(result.stdout)["problems"]
    assert (problem["line"], problem["column"]) == where
    assert problem["message"].startswith(message)


def test_cli_validate_accepts_the_example_and_prints_the_schema() -> None:
    result = CliRunner().invoke(main, ["spec", "validate", str(QUICKSTART / "inferd.yaml")])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(main, ["spec", "schema"])
    assert orjson.loads(result.stdout) == json_schema()


LAUGHS = "\n".join(
    [
        "apiVersion: inferd.dev/v1",
        "kind: Stack",
        "a: &a [x, x, x, x, x, x, x, x, x]",
        *(
            f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]"
            for i in range(8)
        ),
        "deployments: []",
    ]
)


def test_yaml_aliases_are_refused_before_anything_expands() -> None:
    """A 'billion laughs' spec: nested aliases would be walked 9 * 3**8 times."""
    with pytest.raises(SpecError) as caught:
        parse_spec(LAUGHS, "laughs.yaml")
    (problem,) = caught.value.problems
    assert (problem.line, problem.column) == (3, 4)
    assert "anchor 'a' is not allowed" in problem.message


def test_a_single_alias_is_refused_at_its_line() -> None:
    text = (
        "apiVersion: inferd.dev/v1\nkind: Stack\ndeployments:\n"
        "  - name: fraud\n    versions:\n      - {name: v1, model: fraud:v1}\n"
        "  - name: fraud2\n    versions: *v\n"
    )
    with pytest.raises(SpecError) as caught:
        parse_spec(text, "x.yaml")
    (problem,) = caught.value.problems
    assert problem.line == 8
    assert "alias 'v'" in problem.message
