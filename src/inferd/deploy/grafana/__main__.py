"""``python -m inferd.deploy.grafana DIR``: write the provisioning files (``make dashboards``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from inferd.deploy.grafana.provisioning import write


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m inferd.deploy.grafana",
        description="Write inferd's Grafana dashboards and their file provider into DIR.",
    )
    parser.add_argument("directory", type=Path, help="e.g. deploy/grafana")
    args = parser.parse_args(argv)
    for path in write(args.directory):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
