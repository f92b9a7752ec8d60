"""examples/python-model/README.md quotes what the server says to a version served without
``--trust-code``: the quote must be the message a reader gets, and the exit status the one
docs/cli.md gives for refused access."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from e2e.conftest import INFERD, ROOT

from .conftest import EXAMPLES

README = EXAMPLES / "python-model" / "README.md"


def test_the_quoted_refusal_is_what_serve_prints(tmp_path: Path) -> None:
    (quoted,) = re.findall(r"```text\n(.*?)\n```", README.read_text(encoding="utf-8"), re.DOTALL)
    env = {**os.environ, "INFERD_HOME": str(tmp_path / "home")}
    push = [*INFERD, "push", "examples/python-model", "fraud-rules:v1"]
    subprocess.run(push, cwd=ROOT, env=env, check=True, capture_output=True)

    serve = [*INFERD, "serve", "fraud-rules:v1", "--port", "0", "--no-grpc", "--no-control"]
    result = subprocess.run(
        serve, env=env, capture_output=True, text=True, timeout=120, check=False
    )

    assert result.returncode == 6, result.stderr
    assert quoted in result.stderr, result.stderr
