#!/usr/bin/env bash
# GPU evidence in one command, on a GPU machine with no network (see docs/benchmarks.md):
#   bash scripts/gpu_evidence.sh [--out DIR] [--budget-s S]
# Installs gpu_bundle/ (built here with scripts/build_gpu_bundle.py), then runs
# benchmarks/gpu_evidence.py; results go to $OUT (or runs/gpu_evidence). Ends within 10 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
PY="${PYTHON:-python3}"
if [ -d gpu_bundle ]; then
  "$PY" scripts/build_gpu_bundle.py --dry-run || true   # what was brought along, in MiB
fi
exec "$PY" benchmarks/gpu_evidence.py "$@"
