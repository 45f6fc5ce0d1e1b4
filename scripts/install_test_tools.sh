#!/usr/bin/env bash
# Tools some tests drive from Debian's packages: headless Chromium (renders the weekly
# digest's page) and docker-compose (validates deploy/compose.yaml; no engine needed).
# Installs whatever is missing.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium fonts-dejavu-core)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
[ ${#missing[@]} -eq 0 ] && exit 0

install_cmds="
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends ${missing[*]}
"

if [ "$(id -u)" -eq 0 ]; then
  bash -euo pipefail -c "${install_cmds}"
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo -n bash -euo pipefail -c "${install_cmds}"
else
  echo "Missing test tools (${missing[*]}) and this user cannot install them:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

for tool in chromium docker-compose; do
  command -v "$tool" >/dev/null 2>&1 || { echo "apt-get ran but $tool is not on PATH" >&2; exit 1; }
done
