#!/usr/bin/env bash
# Makes sure a headless Chromium is on the machine, for the test that renders the weekly
# digest's HTML page and takes a screenshot of it. Installs Debian's package if needed.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  exit 0
fi

install_cmds='
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends chromium fonts-dejavu-core
'

if [ "$(id -u)" -eq 0 ]; then
  bash -euo pipefail -c "${install_cmds}"
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo -n bash -euo pipefail -c "${install_cmds}"
else
  echo "Chromium is missing and this user cannot install it." >&2
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium" >&2
  exit 1
fi

command -v chromium >/dev/null 2>&1 || { echo "apt-get installed chromium but it is not on PATH" >&2; exit 1; }
