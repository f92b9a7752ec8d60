"""Paths the spec tests read (the bundled quickstart's spec is the reference example), and the
smallest spec, which tests extend with the section they check."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "examples" / "quickstart"

#: One deployment of one version; a test appends the lines it checks (line 6 onwards).
ONE_DEPLOYMENT = """\
apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: fraud
    versions: [{name: v1, model: "fraud:v1"}]
"""
