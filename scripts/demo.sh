#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Builds freeholdd and runs the demo: a device with a simulated camera on this machine, and a local MQTT broker
# (Debian's mosquitto, on 127.0.0.1:18830, for this demo only) that the device publishes to.
# Prints the URLs to open and a freshly generated admin password. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh build
echo "==> Configuring (release preset)"
cmake --preset release >/dev/null
echo "==> Building freeholdd and its web UI (npm ci + Vite, the first time downloads the UI's build tools)"
cmake --build --preset release --target freeholdd webui

# Root was only needed for apt-get: run the daemon and the broker as the user who called sudo.
as_user=()
if [ "$(id -u)" -eq 0 ] && [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
  as_user=(runuser -u "$SUDO_USER" --)
fi
broker_port=${FREEHOLD_DEMO_MQTT_PORT:-18830}
broker_dir=$(mktemp -d /tmp/freehold-demo-mqtt-XXXXXX)
printf 'listener %s 127.0.0.1\nallow_anonymous true\nuser %s\n' "$broker_port" "${SUDO_USER:-$(id -un)}" \
  > "$broker_dir/mosquitto.conf"
[ ${#as_user[@]} -gt 0 ] && chown -R "$SUDO_USER" "$broker_dir"
echo "==> Starting a local MQTT broker (mosquitto) on 127.0.0.1:$broker_port for the demo"
"${as_user[@]}" /usr/sbin/mosquitto -c "$broker_dir/mosquitto.conf" > "$broker_dir/mosquitto.log" 2>&1 &
broker_pid=$!
trap 'kill "$broker_pid" 2>/dev/null; rm -rf "$broker_dir"' EXIT
sleep 0.3
if ! kill -0 "$broker_pid" 2>/dev/null; then
  echo "error: mosquitto did not start (port $broker_port taken? set FREEHOLD_DEMO_MQTT_PORT):" >&2
  cat "$broker_dir/mosquitto.log" >&2
  exit 1
fi
echo "    watch it with: mosquitto_sub -h 127.0.0.1 -p $broker_port -t 'freehold/#' -v"
echo "==> Starting the demo"
"${as_user[@]}" build/bin/freeholdd --demo --mqtt "mqtt://127.0.0.1:$broker_port" "$@"
