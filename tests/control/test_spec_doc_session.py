"""docs/spec.md's `inferd up` session, run as written: the quickstart pushed, `inferd up
examples/quickstart/inferd.yaml --demo-traffic` (on free ports), its banner, then an apply of the
file with the weights changed to 80/20. The banner shows the doc's lines in the doc's order, and
the apply prints the doc's line."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

from e2e.conftest import INFERD, ROOT

from .conftest import start_up

SPEC_MD = ROOT / "docs" / "spec.md"
QUICKSTART = ROOT / "examples" / "quickstart" / "inferd.yaml"
LABEL = re.compile(r"^(gateway|gRPC|dashboard|access|deployment|try:|status:|demo traffic:)\s")


def session() -> list[str]:
    """The console block of the doc that starts `inferd up`."""
    blocks = re.findall(r"```console\n(.*?)```", SPEC_MD.read_text(encoding="utf-8"), re.DOTALL)
    (block,) = [b for b in blocks if "$ inferd up " in b]
    return str(block).splitlines()


def printed_after(lines: list[str], command: str) -> list[str]:
    """The lines the doc shows ``command`` printing (up to the next ``$`` line)."""
    start = next(i for i, line in enumerate(lines) if line.startswith(f"$ {command}"))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("$ ")), len(lines))
    return lines[start + 1 : end]


def labels(lines: list[str]) -> list[str]:
    return [m.group(1) for line in lines if (m := LABEL.match(line))]


def test_the_up_session_prints_what_spec_md_shows(tmp_path: Path) -> None:
    doc = session()
    home = tmp_path / "home"
    env = {**os.environ, "INFERD_HOME": str(home)}
    for version in ("v1", "v2"):
        push = [*INFERD, "push", f"examples/quickstart/fraud-{version}", f"fraud:{version}"]
        subprocess.run(push, cwd=ROOT, env=env, check=True, capture_output=True)
    up = start_up(home, QUICKSTART, "--demo-traffic", "--port", "0")
    try:
        shown = printed_after(doc, "inferd up ")
        deadline = time.monotonic() + 30  # the banner's last lines may follow the first ones
        while True:
            banner = [line for line in up.log.read_text().splitlines() if LABEL.match(line)]
            if labels(banner) == labels(shown) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        demo = [line for line in banner if line.startswith("demo traffic:")]
        assert labels(shown) == labels(banner), up.log.read_text()
        assert [line for line in shown if line.startswith("deployment ")] == [
            line for line in banner if line.startswith("deployment ")
        ]
        assert demo and demo[0].startswith("demo traffic: about 4 requests/s")

        changed = tmp_path / "inferd.yaml"
        text = QUICKSTART.read_text(encoding="utf-8")
        changed.write_text(text.replace("v1: 90", "v1: 80").replace("v2: 10", "v2: 20"))
        applied = up.cli("apply", str(changed)).stdout.splitlines()
        assert applied == printed_after(doc, "inferd apply ")
    finally:
        assert up.stop() == 0
