"""Each problem says what the field takes and what the file has, in the words of a YAML file,
never pydantic's ("Input should be a valid dictionary or instance of Spec"); an unknown key
says which key was meant, or which keys its section takes."""

from __future__ import annotations

from pathlib import Path

import pytest

from inferd.spec.loading import SpecError, load_spec, parse_spec

from .conftest import ONE_DEPLOYMENT

HEAD = ONE_DEPLOYMENT.removesuffix('    versions: [{name: v1, model: "fraud:v1"}]\n')


def _problems(document: str) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_spec(document, "s.yaml")
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            HEAD + "    versions: [{name: v1, model: 'fraud:v1', replica: 2}]\n",
            "s.yaml:5:46: deployments[0].versions[0].replica: unknown key: did you mean "
            "'replicas'? (check its spelling and indentation)",
        ),
        (
            ONE_DEPLOYMENT + "    autoscale: {max_replicas: 2}\n",
            "s.yaml:6:5: deployments[0].autoscale: unknown key: did you mean 'autoscaling'? "
            "(check its spelling and indentation)",
        ),
        (
            ONE_DEPLOYMENT + "gatway: {port: 9000}\n",
            "s.yaml:6:1: gatway: unknown key: did you mean 'gateway'? (check its spelling and "
            "indentation)",
        ),
        (
            ONE_DEPLOYMENT + "    traffic: {split: 100}\n",
            "s.yaml:6:15: deployments[0].traffic.split: unknown key (not part of the spec; check "
            "its spelling and indentation); this section takes weights, shadow, sticky_header, "
            "header_routes",
        ),
        (
            ONE_DEPLOYMENT + "    weights: {v1: 100}\n",
            "s.yaml:6:5: deployments[0].weights: unknown key here: 'weights' belongs under "
            "traffic: (check its indentation)",
        ),
        (
            ONE_DEPLOYMENT + "    replicas: 2\n",
            "s.yaml:6:5: deployments[0].replicas: unknown key here: 'replicas' belongs under "
            "versions: (check its indentation)",
        ),
        (
            HEAD + "    versions: [{name: v1, model: 'fraud:v1', replicas: '2'}]\n",
            "s.yaml:5:56: deployments[0].versions[0].replicas: expected a whole number, got '2' "
            "(write the number without quotes)",
        ),
        (
            ONE_DEPLOYMENT + "    traffic: {header_routes: [{header: x, value: 1, version: v1}]}\n",
            "s.yaml:6:50: deployments[0].traffic.header_routes[0].value: expected text, got 1 "
            "(quote it to make it text)",
        ),
        (
            ONE_DEPLOYMENT + "    runtime: {device: gpu}\n",
            "s.yaml:6:23: deployments[0].runtime.device: should be 'cpu', 'cuda' or 'auto', got "
            "'gpu'",
        ),
        (
            HEAD + "    versions: {name: v1, model: 'fraud:v1'}\n",
            "s.yaml:5:15: deployments[0].versions: expected a list, got a mapping",
        ),
        (
            "- apiVersion: inferd.dev/v1\n",
            "s.yaml:1:1: a spec is a mapping of apiVersion, kind, deployments…; got a list",
        ),
        (
            "apiVersion: inferd.dev/v1\nkind: Stack\ndeployments: []\n",
            "s.yaml:3:14: deployments: List should have at least 1 item, not 0",
        ),
    ],
)
def test_a_problem_says_what_is_allowed_and_what_was_written(document: str, expected: str) -> None:
    assert _problems(document) == [expected]


def test_a_file_that_is_not_utf8_says_so(tmp_path: Path) -> None:
    path = tmp_path / "inferd.yaml"
    path.write_bytes(b"apiVersion: inferd.dev/v1\nkind: St\xe4ck\n")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    (problem,) = caught.value.problems
    assert (problem.line, problem.column) == (2, 9)
    assert problem.message.startswith("not UTF-8 text (byte 34)")


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        (
            "    versions: [{name: v1, model: 'fraud:v1'\n",
            "s.yaml:6:1: not valid YAML: expected ',' or '}', but got '<stream end>' (while "
            "parsing a flow mapping from line 5, column 16)",
        ),
        (
            "    versions:\n\t- {name: v1, model: 'fraud:v1'}\n",
            "s.yaml:6:1: not valid YAML: found character '\\t' that cannot start any token; "
            "indent with spaces: YAML does not allow tabs",
        ),
        (
            "    versions:\n      - name: v1\n       model: 'fraud:v1'\n",
            "s.yaml:7:8: not valid YAML: expected <block end>, but found '<block mapping start>' "
            "(while parsing a block collection from line 6, column 7); check the indentation, "
            "and quote a value that holds ': '",
        ),
    ],
)
def test_a_yaml_syntax_error_says_where_it_began_and_how_to_mend_it(
    tail: str, expected: str
) -> None:
    assert _problems(HEAD + tail) == [expected]


def test_steps_on_a_strategy_without_steps_read_as_english() -> None:
    problems = _problems(ONE_DEPLOYMENT + "    rollout: {strategy: ab, steps: [50, 100]}\n")
    assert "s.yaml:6:36: deployments[0].rollout.steps: ab rollouts take no steps" in problems


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        ("cost: {currency: usd, cpu_core_hour: 1}\n", "'usd' is not an ISO 4217 currency code"),
        ("registry: 'https://r.example.com'\n", "is not a registry's HOST[:PORT] with an"),
        (
            "registries: {allow: ['Bad Host!']}\n",
            "'Bad Host!' is not a registry's HOST[:PORT], e.g.",
        ),
    ],
)
def test_a_pattern_is_said_in_words_not_as_its_regular_expression(tail: str, expected: str) -> None:
    """A text field with a pattern says what it takes (pydantic quotes the expression)."""
    text = (
        "apiVersion: inferd.dev/v1\nkind: Stack\n"
        "deployments: [{name: f, versions: [{name: v1, model: 'f:v1'}]}]\n" + tail
    )
    with pytest.raises(SpecError) as caught:
        parse_spec(text, "inferd.yaml")
    messages = [p.message for p in caught.value.problems]
    assert any(expected in m for m in messages), messages
    assert not any("pattern" in m for m in messages), messages
