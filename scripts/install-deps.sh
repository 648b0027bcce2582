#!/usr/bin/env bash
# Installs every system package the build and the tests need on Debian/Ubuntu:
# FFmpeg development libraries (ffmpeg-next links them via pkg-config), clang for
# bindgen, the ffmpeg/ffprobe CLIs (test publisher and output checker), and nginx
# with the RTMP module (the ingest server the integration tests start on loopback).
# libavdevice/libavfilter are not linked: the built-in `testsrc` opens them at run time
# (the -dev package names are the same on every release, the runtime sonames are not).
# GNU time measures CPU and peak memory for scripts/bench.sh.
set -euo pipefail

packages=(
  pkg-config clang libclang-dev
  libavcodec-dev libavformat-dev libavutil-dev libavfilter-dev libavdevice-dev
  libswscale-dev libswresample-dev
  ffmpeg time
  nginx-light libnginx-mod-rtmp
)

# S3 and Azure Blob compatible servers for the object-store tests: moto (PyPI) and
# Azurite (npm). Real servers on loopback, no cloud account needed.
install_test_servers() {
  if ! command -v moto_server >/dev/null 2>&1; then
    python3 -m pip install --quiet 'moto[server]'
  fi
  if ! command -v azurite-blob >/dev/null 2>&1; then
    npm install --global --silent azurite@3
  fi
}

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all system packages present"
  install_test_servers
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# The nginx package starts a system service on install; the tests run their own
# nginx on a free loopback port, so the system one is not needed.
$SUDO systemctl disable --now nginx >/dev/null 2>&1 || $SUDO service nginx stop >/dev/null 2>&1 || true
echo "install-deps: installed ${missing[*]}"
install_test_servers
