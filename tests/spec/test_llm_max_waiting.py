"""``llm.max_waiting_seqs``: the bound of engine inferd's waiting queue, refused at its line for
the external engines, which queue without a bound and have no such setting."""

from __future__ import annotations

import pytest

from inferd.config import ServerSettings
from inferd.control.replicas.launch import server_settings
from inferd.deploy import K8sOptions, render
from inferd.settings_file import load_settings
from inferd.spec.loading import SpecError, parse_spec

DOCUMENT = """\
apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: bot
    llm:
      engine: inferd
      max_num_seqs: 2
      max_waiting_seqs: 512
    versions:
      - {name: v1, model: "registry.example/tiny:q4"}
"""


def _problems(document: str) -> list[tuple[int, str]]:
    with pytest.raises(SpecError) as caught:
        parse_spec(document, "inferd.yaml")
    return [(p.line, p.message) for p in caught.value.problems]


def test_engine_inferd_replicas_get_the_bound() -> None:
    (deployment,) = parse_spec(DOCUMENT, "inferd.yaml").deployments
    served = ServerSettings.model_validate(server_settings(deployment, 30.0))
    assert (served.llm.max_num_seqs, served.llm.max_waiting_seqs) == (2, 512)
    unset = parse_spec(DOCUMENT.replace("      max_waiting_seqs: 512\n", ""), "x").deployments[0]
    assert ServerSettings.model_validate(server_settings(unset, 30.0)).llm.max_waiting_seqs == 64


def test_engine_inferd_pods_get_the_bound() -> None:
    spec = parse_spec(DOCUMENT, "inferd.yaml")
    objects = render(spec, K8sOptions(registry="registry.example.com"))
    (workload,) = [o for o in objects if o["kind"] == "Deployment"]
    (server,) = workload["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in server["env"]}
    assert load_settings(ServerSettings, environ=env).llm.max_waiting_seqs == 512


@pytest.mark.parametrize("engine", ["llama-server", "vllm"])
def test_an_external_engine_takes_no_bound(engine: str) -> None:
    document = DOCUMENT.replace("engine: inferd", f"engine: {engine}")
    if engine == "vllm":
        document = document.replace("    llm:", "    resources: {gpu: 1}\n    llm:")
    line = 8 if engine == "llama-server" else 9
    assert _problems(document) == [
        (
            line,
            f"engine {engine!r} queues without a bound: max_waiting_seqs bounds engine "
            "'inferd''s queue (leave it unset)",
        )
    ]


def test_the_bound_holds_every_choice_of_one_request() -> None:
    (problem,) = _problems(DOCUMENT.replace("512", "63"))
    assert problem[0] == 8 and "greater than or equal to 64" in problem[1], problem
