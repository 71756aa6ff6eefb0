#!/usr/bin/env bash
# Create .venv and install the engine with its test tools. Safe to run again: it reinstalls only
# when pyproject.toml changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.weitao-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  log=$(mktemp)
  echo "installing the engine and its dependencies into .venv (about two minutes the first time)"
  if ! { .venv/bin/python -m pip install --quiet --upgrade pip &&
         .venv/bin/python -m pip install --quiet -e ".[dev]"; } >"$log" 2>&1; then
    grep -v "^WARNING: Location" "$log" >&2
    echo "setup: pip install failed" >&2
    exit 1
  fi
  rm -f "$log"
  echo "$want" > "$stamp"
fi
