"""The generated rules against promtool (issue 17 item 3, issue 16 item 5).

- ``promtool check rules`` on every rules file the generator writes (the quickstart for a cluster,
  with a namespace, with Argo Rollouts and for ``inferd up``; the GPU spec; tests/deploy/data/
  alerting.yaml in the same three ways) and on the PrometheusRule of every golden render;
- the committed deploy/prometheus/*.rules.yaml are what ``inferd k8s rules`` writes today;
- ``promtool test rules`` on deploy/prometheus/*.test.yaml and tests/deploy/data/alerting*.test.yaml
  (the latter against rules generated here), where every alert the generator can write fires on
  synthetic series that break it and stays quiet on series that keep it, and the SLO thresholds
  and cost arithmetic are checked on known numbers;
- every series a rule reads is documented.

promtool is /usr/bin/promtool (scripts/system-deps); under CI=true its absence fails the tests.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from inferd.deploy.k8s_options import load_options
from inferd.deploy.rules import all_rule_expressions
from inferd.spec.loading import load_spec

from .conftest import GOLDEN, GPU_OVERLAY, GPU_SPEC, HERE, QUICKSTART, ROOT, cli

COMMITTED = ROOT / "deploy" / "prometheus"
ALERTING = HERE / "data" / "alerting.yaml"
ALERTING_OVERLAY = HERE / "data" / "alerting.k8s.yaml"
DOCS = ROOT / "docs"

#: Generated rules files: name → ``inferd k8s rules`` arguments.
GENERATED: dict[str, list[str | Path]] = {
    "quickstart.rules.yaml": [QUICKSTART],
    "quickstart-local.rules.yaml": [QUICKSTART, "--local"],
    "quickstart-ml.rules.yaml": [QUICKSTART, "--namespace", "ml"],
    "quickstart-argo.rules.yaml": [QUICKSTART, "--progressive", "argo"],
    "gpus.rules.yaml": [GPU_SPEC, "--overlay", GPU_OVERLAY],
    "alerting.rules.yaml": [ALERTING, "--overlay", ALERTING_OVERLAY],
    "alerting-argo.rules.yaml": [ALERTING, "--overlay", ALERTING_OVERLAY, "--progressive", "argo"],
    "alerting-local.rules.yaml": [ALERTING, "--overlay", ALERTING_OVERLAY, "--local"],
}
#: The committed files: each is what the generator writes (the quickstart, as in GENERATED).
COMMITTED_FILES = ("quickstart.rules.yaml", "quickstart-local.rules.yaml")
UNIT_TESTS = [
    *sorted(COMMITTED.glob("*.test.yaml")),
    *sorted((HERE / "data").glob("alerting*.test.yaml")),
]


def _generate(name: str) -> str:
    result = cli("k8s", "rules", *GENERATED[name])
    assert result.exit_code == 0, result.output
    return str(result.stdout)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every GENERATED file, written into one directory."""
    directory = tmp_path_factory.mktemp("rules")
    for name in GENERATED:
        (directory / name).write_text(_generate(name), encoding="utf-8")
    return directory


def _run(promtool: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, *args], capture_output=True, text=True, check=False, timeout=120, cwd=cwd
    )


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_promtool_checks_every_generated_file(promtool: str, generated: Path, name: str) -> None:
    result = _run(promtool, "check", "rules", str(generated / name))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize("golden", sorted(p.name for p in GOLDEN.glob("*.yaml")))
def test_promtool_checks_the_prometheus_rule_of_every_golden_render(
    promtool: str, tmp_path: Path, golden: str
) -> None:
    objects = list(yaml.safe_load_all((GOLDEN / golden).read_text(encoding="utf-8")))
    rules = [o for o in objects if o["kind"] == "PrometheusRule"]
    if any(o["kind"] == "InferenceService" for o in objects):
        assert not rules  # the KServe target scrapes nothing of its own
        return
    (rule,) = rules
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rule["spec"]), encoding="utf-8")
    result = _run(promtool, "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", COMMITTED_FILES)
def test_the_committed_rules_are_what_the_generator_writes(name: str) -> None:
    committed = (COMMITTED / name).read_text(encoding="utf-8")
    assert committed == _generate(name), (
        f"deploy/prometheus/{name} is stale: regenerate it with "
        f"inferd k8s rules {' '.join(str(a) for a in GENERATED[name])} -o deploy/prometheus/{name}"
    )


@pytest.mark.parametrize("test_file", UNIT_TESTS, ids=lambda p: p.name)
def test_promtool_unit_tests_pass(
    promtool: str, generated: Path, tmp_path: Path, test_file: Path
) -> None:
    if test_file.parent == COMMITTED:
        where = COMMITTED  # against the committed rules
    else:
        where = tmp_path
        for name in _rule_files(test_file):
            shutil.copy(generated / name, where / name)
        shutil.copy(test_file, where / test_file.name)
    result = _run(promtool, "test", "rules", test_file.name, cwd=where)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def _rule_files(test_file: Path) -> list[str]:
    return list(yaml.safe_load(test_file.read_text(encoding="utf-8"))["rule_files"])


def test_every_alert_fires_in_one_case_and_stays_quiet_in_another(generated: Path) -> None:
    """Across the unit tests, each alert name any generated file holds has a case with
    expected alerts and a case expecting none."""
    names: set[str] = set()
    for path in generated.iterdir():
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            names |= {r["alert"] for r in group["rules"] if "alert" in r}
    fired: set[str] = set()
    quiet: set[str] = set()
    for test_file in UNIT_TESTS:
        for case in yaml.safe_load(test_file.read_text(encoding="utf-8"))["tests"]:
            for check in case.get("alert_rule_test", []):
                (fired if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert sorted(names - fired) == []
    assert sorted(names - quiet) == []


#: Series from other exporters, documented in docs/alerts.md's table of them.
#: Series names (not the parts of a recorded name, ``level:name:operations``).
_FOREIGN = re.compile(r"(?<![:\w])(kube_[a-z_]+|rollout_[a-z_]+)(?![:\w])")
_OWN = re.compile(r"(?<![:\w])(inferd_[a-z0-9_]+|DCGM_[A-Z_]+)(?![:\w])")
_HISTOGRAM = re.compile(r"_(bucket|count|sum)$")


def _specs() -> list[tuple[str, Any]]:
    return [
        ("quickstart", all_rule_expressions(load_spec(QUICKSTART))),
        ("gpus", all_rule_expressions(load_spec(GPU_SPEC), load_options(GPU_OVERLAY, {}))),
        (
            "alerting",
            all_rule_expressions(
                load_spec(ALERTING), load_options(ALERTING_OVERLAY, {"progressive": "argo"})
            ),
        ),
    ]


def _documented(name: str, docs: str) -> bool:
    """Whether a series of inferd's is in its docs: by name, or for a histogram's series by the
    histogram's name; docs/autoscaling.md lists the autoscaler's as ``_desired_replicas``…"""
    base = _HISTOGRAM.sub("", name)
    short = base.removeprefix("inferd_autoscaler")
    return f"`{name}`" in docs or f"`{base}`" in docs or (short != base and f"`{short}`" in docs)


def test_every_series_a_rule_reads_is_documented() -> None:
    own_docs = "\n".join(
        p.read_text(encoding="utf-8") for p in DOCS.glob("*.md") if p.name != "alerts.md"
    )
    alerts_doc = (DOCS / "alerts.md").read_text(encoding="utf-8")
    missing = []
    for spec, expressions in _specs():
        for e in expressions:
            missing += [
                f"{spec} {e.name}: {name}"
                for name in set(_OWN.findall(e.expr))
                if not _documented(name, own_docs)
            ]
            missing += [
                f"{spec} {e.name}: {name} (docs/alerts.md)"
                for name in set(_FOREIGN.findall(e.expr))
                if f"`{name}`" not in alerts_doc
            ]
    assert missing == []


def test_local_rules_refuse_cluster_options() -> None:
    result = cli("k8s", "rules", QUICKSTART, "--local", "--namespace", "ml")
    assert result.exit_code != 0
    assert "--namespace is a cluster option" in result.stderr
    # GPU placement was taken and did nothing under --local.
    placed = cli("k8s", "rules", QUICKSTART, "--local", "--gpu-product", "Tesla-T4")
    assert placed.exit_code == 2, placed.output
    assert "--gpu-product is a cluster option" in placed.stderr


def test_a_stage_without_progressive_is_refused() -> None:
    """``--stage`` is the stage ``--progressive argo`` rendered: alone it did nothing."""
    result = cli("k8s", "rules", QUICKSTART, "--stage", "stable")
    assert result.exit_code == 2, result.output
    assert "--stage goes with --progressive argo" in result.stderr


def test_rules_are_written_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "rules.yaml"
    result = cli("k8s", "rules", QUICKSTART, "-o", out)
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == (COMMITTED / "quickstart.rules.yaml").read_text(
        encoding="utf-8"
    )


def test_promtool_lints_gpu_prices_of_several_deployments_clean(
    promtool: str, tmp_path: Path
) -> None:
    """One cost rule per GPU deployment, all recording the same series name and resource:
    without the deployment among their labels promtool's lint calls them duplicates."""
    spec = tmp_path / "gpus.yaml"
    prices = "cost: {cpu_core_hour: 0.04, gpu_hour: {A100: 3.0, T4: 0.4, H100: 2.5}}\n"
    spec.write_text(GPU_SPEC.read_text(encoding="utf-8") + prices, encoding="utf-8")
    result = cli("k8s", "rules", spec, "--overlay", GPU_OVERLAY)
    assert result.exit_code == 0, result.output
    path = tmp_path / "gpus.rules.yaml"
    path.write_text(result.stdout, encoding="utf-8")
    checked = _run(promtool, "check", "rules", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout and "duplicate" not in checked.stdout + checked.stderr
