#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Builds freeholdd and runs the demo: a device with a simulated camera on this machine, a local MQTT broker
# (Debian's mosquitto, on 127.0.0.1:18830, for this demo only) that the device publishes to, and a local
# freehold-relay (127.0.0.1:17443) the device links to, with a client key ready for `freehold connect`.
# Prints the URLs to open, a freshly generated admin password and the connect line. Ctrl-C stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh build
echo "==> Configuring (release preset)"
cmake --preset release >/dev/null
echo "==> Building freeholdd, freehold-relay, freehold and the web UI (npm ci + Vite, the first time downloads the UI's build tools)"
cmake --build --preset release --target freeholdd freehold-relay freehold webui

# Root was only needed for apt-get: run the daemon and the broker as the user who called sudo.
as_user=()
if [ "$(id -u)" -eq 0 ] && [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
  as_user=(runuser -u "$SUDO_USER" --)
fi
broker_port=${FREEHOLD_DEMO_MQTT_PORT:-18830}
broker_dir=$(mktemp -d /tmp/freehold-demo-XXXXXX)
printf 'listener %s 127.0.0.1\nallow_anonymous true\nuser %s\n' "$broker_port" "${SUDO_USER:-$(id -un)}" \
  > "$broker_dir/mosquitto.conf"
[ ${#as_user[@]} -gt 0 ] && chown -R "$SUDO_USER" "$broker_dir"
echo "==> Starting a local MQTT broker (mosquitto) on 127.0.0.1:$broker_port for the demo"
"${as_user[@]}" /usr/sbin/mosquitto -c "$broker_dir/mosquitto.conf" > "$broker_dir/mosquitto.log" 2>&1 &
broker_pid=$!
relay_pid=
trap 'kill "$broker_pid" $relay_pid 2>/dev/null; rm -rf "$broker_dir"' EXIT
sleep 0.3
if ! kill -0 "$broker_pid" 2>/dev/null; then
  echo "error: mosquitto did not start (port $broker_port taken? set FREEHOLD_DEMO_MQTT_PORT):" >&2
  cat "$broker_dir/mosquitto.log" >&2
  exit 1
fi
echo "    watch it with: mosquitto_sub -h 127.0.0.1 -p $broker_port -t 'freehold/#' -v"

# Remote access: the owner's relay (here on loopback, self-signed), the device's key made beforehand so that the
# relay can allow it, and a client key that the device takes as its owner's.
relay_port=${FREEHOLD_DEMO_RELAY_PORT:-17443}
demo_dir="$broker_dir"
run() { "${as_user[@]}" "$@"; }
mkdir -p "$demo_dir/state"
[ ${#as_user[@]} -gt 0 ] && chown -R "$SUDO_USER" "$demo_dir"
cli=(build/bin/freehold --key "$demo_dir/client.key" --devices "$demo_dir/devices.toml")
run build/bin/freehold --key "$demo_dir/state/relay_key" keygen > /dev/null
run "${cli[@]}" keygen > /dev/null
device_id=$(run build/bin/freehold --key "$demo_dir/state/relay_key" id | sed -n 's/^client ID: *//p')
device_key=$(run build/bin/freehold --key "$demo_dir/state/relay_key" id | sed -n 's/^public key: *//p')
client_id=$(run "${cli[@]}" id | sed -n 's/^client ID: *//p')
client_key=$(run "${cli[@]}" id | sed -n 's/^public key: *//p')
run build/bin/freehold-relay allow "$device_id" --access "$demo_dir/relay-access.toml" > /dev/null
run build/bin/freehold-relay allow-client "$client_id" --access "$demo_dir/relay-access.toml" > /dev/null
echo "==> Starting a local freehold-relay on 127.0.0.1:$relay_port (self-signed) for the demo"
run build/bin/freehold-relay serve --listen "127.0.0.1:$relay_port" --self-signed "$demo_dir/relay-tls" \
  --access "$demo_dir/relay-access.toml" --metrics 127.0.0.1:0 > "$demo_dir/relay.out" 2> "$demo_dir/relay.log" &
relay_pid=$!
for _ in $(seq 50); do grep -q 'fingerprint' "$demo_dir/relay.out" 2>/dev/null && break; sleep 0.1; done
relay_fp=$(sed -n 's/.*(pin it): //p' "$demo_dir/relay.out")
if [ -z "$relay_fp" ]; then
  echo "error: freehold-relay did not start (port $relay_port taken? set FREEHOLD_DEMO_RELAY_PORT):" >&2
  cat "$demo_dir/relay.log" >&2
  exit 1
fi
run "${cli[@]}" add demo --id "$device_id" --key "$device_key" --relay "relay://127.0.0.1:$relay_port" \
  --relay-fingerprint "$relay_fp" > /dev/null
printf '[relay]\nurl = "relay://127.0.0.1:%s"\nfingerprint = "%s"\nowners = "%s"\n' \
  "$relay_port" "$relay_fp" "$client_key" > "$demo_dir/freeholdd.toml"
[ ${#as_user[@]} -gt 0 ] && chown -R "$SUDO_USER" "$demo_dir"
echo "    remote access through it (end-to-end encrypted; in another terminal):"
echo "      ${cli[*]} connect demo --rtsp 18554 --https 18443"
echo "    then: ffplay rtsp://127.0.0.1:18554/main  or  https://127.0.0.1:18443/ (no password: the key is the owner's)"
echo "==> Starting the demo"
run build/bin/freeholdd --demo --state-dir "$demo_dir/state" --config "$demo_dir/freeholdd.toml" \
  --mqtt "mqtt://127.0.0.1:$broker_port" "$@"
