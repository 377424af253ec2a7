#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Installs the Debian 12 packages Freehold needs, only those missing (idempotent).
# Usage: scripts/deps.sh build|test
# Exits 2 with a clear message if packages are missing and we are not root.
set -euo pipefail

build_pkgs=(g++ cmake ninja-build pkg-config git libboost1.81-dev libssl-dev libsodium-dev libtomlplusplus-dev
            nlohmann-json3-dev libsqlite3-dev libx264-dev libturbojpeg0-dev libavformat-dev libavcodec-dev
            libavutil-dev libswscale-dev libpugixml-dev openssl libmosquitto-dev mosquitto mosquitto-clients
            libopencv-core-dev libopencv-imgproc-dev libopencv-objdetect-dev libopencv-dnn-dev libopencv-video-dev
            nodejs npm)
test_pkgs=(libgtest-dev libgmock-dev libbenchmark-dev clang libclang-rt-14-dev python3 curl
           ffmpeg gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
           gstreamer1.0-plugins-bad gstreamer1.0-libav
           libgstrtspserver-1.0-dev python3-lxml python3-zeep libxml2-utils nodejs npm chromium
           opencv-doc python3-onnx python3-numpy python3-paho-mqtt rabbitmq-server
           iperf3 openssh-server openssh-client socat
           iproute2 iptables tcpdump procps gdb)

case "${1:-}" in
  build) wanted=("${build_pkgs[@]}") ;;
  test) wanted=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
  *) echo "usage: $0 build|test" >&2; exit 2 ;;
esac

missing=()
for p in "${wanted[@]}"; do
  # Node.js from another source (NodeSource's nodejs bundles npm and conflicts with Debian's npm package).
  if [ "$p" = npm ] && command -v npm >/dev/null 2>&1; then continue; fi
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "==> Debian packages: all ${#wanted[@]} present"
  exit 0
fi

echo "==> Debian packages missing: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "error: installing packages needs root. Run this command again with sudo, or install them yourself:" >&2
  echo "  sudo apt-get install -y ${missing[*]}" >&2
  exit 2
fi
echo "==> apt-get update"
apt-get update -qq
echo "==> apt-get install ${missing[*]}"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
