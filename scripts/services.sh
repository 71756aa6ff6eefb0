#!/usr/bin/env bash
# Install the real services the tests start on loopback (from the OS packages), if they are missing.
# Tests start and stop their own instances on free ports; nothing here keeps running.
set -euo pipefail
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
# headless browser tests (tests/browser.py) drive the distribution's Chromium; no browser is downloaded
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
if ((${#need[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "services: need ${need[*]} (run as root or install them with apt-get)" >&2
    exit 1
  fi
  echo "installing ${need[*]} from the OS packages"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
