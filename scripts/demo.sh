#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Builds freeholdd and runs the demo: a device with a simulated camera on this machine.
# Prints the URLs to open and a freshly generated admin password. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh build
echo "==> Configuring (release preset)"
cmake --preset release >/dev/null
echo "==> Building freeholdd"
cmake --build --preset release --target freeholdd
echo "==> Starting the demo"
# Root was only needed for apt-get: run the daemon as the user who called sudo.
if [ "$(id -u)" -eq 0 ] && [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
  exec runuser -u "$SUDO_USER" -- build/bin/freeholdd --demo "$@"
fi
exec build/bin/freeholdd --demo "$@"
