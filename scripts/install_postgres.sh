#!/usr/bin/env bash
# Makes sure PostgreSQL server binaries are in /usr/lib/postgresql/<ver>/bin, for the
# throwaway servers the tests start (tests/fakes/postgres_server.py). Installs the
# Debian package if needed; never creates, starts or touches the Debian cluster.
set -euo pipefail

if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  exit 0
fi

# On a first install Debian's postinst would create and start a "main" cluster:
# this drop-in (read through createcluster.conf's include_dir) turns that off.
install_cmds='
mkdir -p /etc/postgresql-common/createcluster.d
echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/supportbot-no-main-cluster.conf
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends postgresql
'

if [ "$(id -u)" -eq 0 ]; then
  bash -euo pipefail -c "${install_cmds}"
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo -n bash -euo pipefail -c "${install_cmds}"
else
  echo "PostgreSQL server binaries are missing and this user cannot install them." >&2
  echo "Run this script as root (sudo $0), which also keeps Debian from creating a main cluster," >&2
  echo "or install the package yourself:" >&2
  echo "  sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql" >&2
  exit 1
fi

if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  echo "apt-get installed postgresql but no /usr/lib/postgresql/*/bin/initdb appeared" >&2
  exit 1
fi
