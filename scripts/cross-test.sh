#!/usr/bin/env bash
# Builds the ARM binary with scripts/cross-build.sh and checks it on this x86-64 machine:
#
#   scripts/cross-test.sh arm64|armhf [--unit-tests] [TEST FILTER...]
#
# 1. Every shared library the binary needs (readelf -d) comes from a package the runtime stage
#    of Dockerfile.arm installs, or from the base image's libc6/libgcc-s1. (`testsrc` also opens
#    libavdevice and libavfilter at run time: the runtime stage installs those by name.)
# 2. tests/cross.rs, the ignored tests that run the binary under qemu-user with the target's
#    libraries from Debian multiarch (`-L /`): --version, probe of a file, a two-rung
#    `transcode testsrc` with a recording and previews whose output is checked on the host (and
#    compared with the native binary's), and a `worker` running one job for the fake
#    coordinator (tests/support/fake_coordinator.rs). Run one at a time: emulation is slow,
#    the machine small.
# 3. With --unit-tests, also the library's unit tests compiled for the target and run under
#    qemu-user (scripts/cross-build.sh --unit-tests): the pure logic (clock and segment
#    arithmetic, playlists, the job table) on 32-bit usize and c_long. A release test build
#    for the target: minutes more.
#
# Times under emulation say nothing about ARM hardware; docs/arm.md says what to expect there.
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
  arm64) gnu=aarch64-linux-gnu qemu=qemu-aarch64 ;;
  armhf) gnu=arm-linux-gnueabihf qemu=qemu-arm ;;
  *)
    echo "usage: $0 arm64|armhf [--unit-tests] [TEST FILTER...]" >&2
    exit 2
    ;;
esac
arch=$1
shift
unit_tests=0
if [ "${1:-}" = --unit-tests ]; then
  unit_tests=1
  shift
fi

binary=$(bash scripts/cross-build.sh "$arch" | tail -n 1)
binary=$(realpath "$binary")

check_runtime_libraries() {
  # The runtime stage: everything after the last FROM.
  local runtime
  runtime=$(awk '/^FROM /{stage=""} {stage=stage $0 "\n"} END{printf "%s", stage}' Dockerfile.arm)
  local needed lib package missing=()
  needed=$(readelf -d "$binary" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  for lib in $needed; do
    # dpkg matches a part of the path: /lib and /usr/lib are the same directory (usrmerge),
    # and the package database records either.
    package=$(dpkg -S "$gnu/$lib" 2>/dev/null | grep -m 1 ":$arch: " | cut -d: -f1 || true)
    case "$package" in
      "") missing+=("$lib (not installed for $arch here)") ;;
      libc6 | libgcc-s1) ;; # in debian:bookworm-slim already
      *) grep -qw -- "$package" <<<"$runtime" || missing+=("$lib (package $package)") ;;
    esac
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "cross-test: the runtime stage of Dockerfile.arm does not install: ${missing[*]}" >&2
    exit 1
  fi
  echo "cross-test: the runtime stage installs every library the binary needs: ${needed//$'\n'/ }"
}

check_runtime_libraries
export HLS_LADDER_CROSS_BIN="$binary" HLS_LADDER_CROSS_RUNNER="$qemu -L /"
cargo test --test cross -- --ignored --test-threads=1 "$@"
if [ "$unit_tests" -eq 1 ]; then
  bash scripts/cross-build.sh "$arch" --unit-tests
fi
