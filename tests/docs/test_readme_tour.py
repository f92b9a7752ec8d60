"""README.md's tour, run as written where it needs only this machine: the store commands, one
`inferd serve` answering the tour's curl (on a free port instead of 8080) and `inferd spec
validate`. Every line of it, those that need a registry, a running `inferd up` or a cluster
too, is run by tests/e2e/test_readme_tour.py (a loopback registry for registry.example.com,
`kubectl apply` left out); the README's other shell blocks by the tests ``RUN_BY`` names."""

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


#: Each shell block of the README, in order, by its first line, and the test that runs it.
RUN_BY = {
    "make up": "tests/e2e/test_quickstart.py (scripts/quickstart, what `make up` runs)",
    "# Models are versioned like images": "tests/e2e/test_readme_tour.py (its blocks[1])",
    "python examples/llm/make_model.py": "tests/e2e/test_llm_example.py (the example's block)",
}


def test_every_readme_shell_block_is_one_a_test_runs() -> None:
    """A block added to the README, or one moved ahead of the tour (which
    tests/e2e/test_readme_tour.py finds as the second block), fails here until a test runs it."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```(?:sh|bash|console|shell)?\n(.*?)```", readme, re.DOTALL)
    firsts = [str(block).lstrip() for block in blocks]
    assert len(firsts) == len(RUN_BY), firsts
    for first, start in zip(firsts, RUN_BY, strict=True):
        assert first.startswith(start), (start, RUN_BY[start], first[:80])
    example = (ROOT / "examples" / "llm" / "README.md").read_text(encoding="utf-8")
    llm = re.search(r"```bash\n.*?```", example, re.DOTALL)
    assert llm is not None and llm.group(0) in readme  # tests/e2e/test_llm_example.py runs it


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
