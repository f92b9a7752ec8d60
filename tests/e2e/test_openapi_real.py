"""schemathesis against the OpenAPI document a real ``inferd serve`` publishes, real data plane
and real models behind it (RELIABILITY R17): every check schemathesis has, every phase — no 5xx,
every answer conforms to the document, ``Allow`` lists exactly the documented methods,
schema-valid data is accepted or refused as the protocol says. One check of our own
(``schemathesis_hooks.py``) scans every error body for tracebacks, server paths and the control
token (R27), as ``test_error_hygiene.py`` does for its hand-written cases.

The suite runs a small budget per operation; ``make fuzz`` runs the same test with
``INFERD_FUZZ_EXAMPLES=1000`` (1,000 generated cases per operation and phase).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

HERE = Path(__file__).parent
CONFIG = HERE / "schemathesis.toml"
SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
#: Generated cases per operation: a few dozen in the suite, 1,000 under `make fuzz`.
EXAMPLES = int(os.environ.get("INFERD_FUZZ_EXAMPLES", "30"))


def test_schemathesis_against_inferd_serve(served, store_home: Path, tmp_path: Path) -> None:
    command = [
        SCHEMATHESIS, "--no-color", "--config-file", str(CONFIG), "run",
        f"{served.url}/v2/openapi.json", "--checks", "all", "--max-examples", str(EXAMPLES),
        "--seed", os.environ.get("INFERD_FUZZ_SEED", "20261204"),
    ]  # fmt: skip
    token = (store_home / f"server-{served.control_port}.token").read_text().strip()
    env = {
        **os.environ, "SCHEMATHESIS_HOOKS": "schemathesis_hooks",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
        "INFERD_FUZZ_HOME": str(store_home), "INFERD_FUZZ_TOKEN": token,
    }  # fmt: skip
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=3000, cwd=tmp_path, check=False, env=env
    )
    output = result.stdout + result.stderr
    print(output[-3000:])
    assert result.returncode == 0, output[-6000:]
    tested = re.search(r"Tested: (\d+)", output)
    assert tested is not None and int(tested.group(1)) >= 15, output[-3000:]
    generated = re.search(r"(\d+) generated", output)
    assert generated is not None and int(generated.group(1)) >= 15 * EXAMPLES // 2, output[-3000:]
