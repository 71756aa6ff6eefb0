#!/usr/bin/env bash
# The main job on embedded defaults: set up, then simulate → evaluate → report (→ serve).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/weitao quickstart "$@"
