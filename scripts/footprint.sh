#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Measures freeholdd's footprint: stripped binary size, start-up time to the first HTTPS answer (cold: generates
# its TLS key and certificate; warm: loads them), and idle memory (RSS and PSS) after start-up.
# Usage: scripts/footprint.sh [path/to/freeholdd]   (default build/bin/freeholdd; build it first)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/bin/freeholdd}
[ -x "$bin" ] || { echo "error: $bin not found; build with: cmake --preset release && cmake --build --preset release" >&2; exit 2; }

work=$(mktemp -d /tmp/freehold-footprint-XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

strip -o "$work/freeholdd.stripped" "$bin"
printf 'stripped size:        %s bytes (%s KiB)\n' "$(stat -c %s "$work/freeholdd.stripped")" \
  "$(( $(stat -c %s "$work/freeholdd.stripped") / 1024 ))"
printf 'dynamic libraries:    %s\n' "$(ldd "$bin" | awk '{print $1}' | grep -v -e linux-vdso -e ld-linux | xargs)"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf '[http]\nbind = "127.0.0.1"\nhttps_port = %s\n' "$port" > "$work/c.toml"

# Start, then poll the health endpoint (TLS handshake included) every 2 ms; sets `ms` to the time to the first 200.
# Not run in a subshell: the daemon must not hold a command substitution's pipe, and `pid` must survive.
start_once() {
  local t0 t1
  t0=$(date +%s%N)
  "$work/freeholdd.stripped" --state-dir "$work/state" --config "$work/c.toml" >"$work/out" 2>"$work/log" &
  pid=$!
  for _ in $(seq 1 5000); do
    if [ "$(curl -sk --max-time 1 -o /dev/null -w '%{http_code}' "https://127.0.0.1:$port/api/v1/health")" = 200 ]; then
      t1=$(date +%s%N); ms=$(( (t1 - t0) / 1000000 )); return 0
    fi
    sleep 0.002
  done
  echo "error: no HTTPS answer within 10 s" >&2; cat "$work/log" >&2; return 1
}
stop_once() { kill -TERM "$pid"; wait "$pid" || true; pid=; }

start_once; cold=$ms; stop_once
warm=()
for _ in 1 2 3 4 5; do start_once; warm+=("$ms"); stop_once; done
median=$(printf '%s\n' "${warm[@]}" | sort -n | sed -n 3p)
internal=$(grep -o 'startup_ms=[0-9]*' "$work/log" | tail -1 | cut -d= -f2)
echo "start-up to HTTPS:    cold ${cold} ms (generates key+certificate), warm median ${median} ms (runs: ${warm[*]}),"
echo "                      measured from exec to curl's first 200; the daemon itself logs startup_ms=${internal}"

start_once
sleep 2
rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
pss=$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup")
threads=$(awk '/^Threads/ {print $2}' "/proc/$pid/status")
echo "idle memory:          RSS ${rss} KiB, PSS ${pss} KiB, ${threads} threads"
stop_once
