#!/usr/bin/env bash
# `make bench`: prepare the shared harness (venvs, wrk, models), then run every benchmark and
# write docs/benchmarks.md. Takes several minutes; the machine should be otherwise quiet.
# serve_bench runs inferd, the reference server and the Python HTTP floor, and inferd with two
# workers on both cores (wrk's included) beside them; later arguments override these.
set -euo pipefail
cd "$(dirname "$0")/.."
HARNESS=${BENCH_HARNESS:-../shared/bench}
"$HARNESS/setup.sh"
. "$HARNESS/env.sh"
.venv/bin/python bench/serve_bench.py --workers 1,2 "$@"
.venv/bin/python bench/push_pull.py
