"""README.md's tour, run as written where it needs only this machine: the store commands, one
`inferd serve` answering the tour's curl (on a free port instead of 8080) and `inferd spec
validate`. Lines that need a registry, a running `inferd up` or a cluster are left to the tests
of those parts (tests/store/remote, tests/control, tests/deploy)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from e2e.conftest import INFERD, ROOT, start_serve, wait_ready

pytestmark = pytest.mark.slow

ELSEWHERE = ("registry.example.com", "kubectl", "inferd up", "inferd apply", "inferd ps",
             "inferd down", "inferd rollout", "inferd login", "inferd serve",
             "inferd doctor")  # fmt: skip


def tour() -> list[str]:
    """The tour's shell lines, comments dropped and continuation lines joined."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## A tour", 1)[1]
    (block,) = re.findall(r"```bash\n(.*?)```", section.split("\n## ", 1)[0], re.DOTALL)
    text = str(block).replace("\\\n", " ")
    return [line for line in (re.sub(r"\s+#.*$", "", raw).strip() for raw in text.splitlines())
            if line and not line.startswith("#")]  # fmt: skip


def test_the_readme_tour_runs_as_written(tmp_path: Path) -> None:
    lines = tour()
    home = tmp_path / "home"
    env = {**os.environ, "INFERD_HOME": str(home)}
    commands = [line for line in lines if line.startswith("inferd ")]
    local = [line for line in commands if not any(other in line for other in ELSEWHERE)]
    assert [shlex.split(line)[1] for line in local] == [
        "push", "push", "ls", "inspect", "tag", "history", "spec",
    ]  # fmt: skip
    for line in local:
        result = subprocess.run(
            [*INFERD, *shlex.split(line)[1:]], cwd=ROOT, env=env, capture_output=True, text=True,
            check=False,
        )  # fmt: skip
        assert result.returncode == 0, f"{line}\n{result.stderr}"

    (serve,) = [line for line in lines if line.startswith("inferd serve ")]
    (curl,) = [line for line in lines if line.startswith("curl ")]
    server = start_serve(home, *shlex.split(serve)[2:])
    try:
        wait_ready(server.url)
        command = shlex.split(curl.replace("localhost:8080", f"127.0.0.1:{server.port}"))
        answer = json.loads(subprocess.run(command, capture_output=True, check=True).stdout)
    finally:
        server.stop()
    assert answer["model_name"] == "fraud" and answer["model_version"] == "production"
    assert {o["name"] for o in answer["outputs"]} == {"label", "probabilities"}
