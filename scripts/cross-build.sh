#!/usr/bin/env bash
# Cross-builds the release binary for 64-bit ARM (arm64: aarch64-unknown-linux-gnu) or 32-bit
# ARM (armhf: armv7-unknown-linux-gnueabihf, EABI5 hard-float) on a Debian 12 x86-64 machine:
#
#   scripts/cross-build.sh arm64|armhf [--no-qemu] [--install-only | --unit-tests]
#
# The binary lands in ${CARGO_TARGET_DIR:-target}/<rust target>/release/hls-ladder (the path is
# the last line printed). Dockerfile.arm runs this same script in its build stage, so the image
# and the binary scripts/cross-test.sh checks come from one recipe.
#
# What it installs (only what is missing; quiet when everything is there):
# - Debian multiarch for the target (`dpkg --add-architecture`), crossbuild-essential-<arch>
#   (the cross gcc: linker, and compiler of ring's and aws-lc's C code), and the target's
#   FFmpeg -dev packages side by side with the host's. Multiarch requires the same version
#   for both architectures, so apt may upgrade the host's FFmpeg libraries to it.
# - clang/libclang (bindgen) and pkg-config, as on the host.
# - qemu-user and the target's libavdevice/libavfilter, which only running the result needs
#   (scripts/cross-test.sh; the built-in `testsrc` opens them at run time). --no-qemu skips
#   them (the image's build stage never runs the binary).
# - the Rust target (`rustup target add`).
# --install-only stops there (Dockerfile.arm installs in a layer of its own, which the image
# build then reuses until this script changes).
# --unit-tests builds the library's unit tests for the target instead of the binary (release
# profile, so they reuse the binary's dependencies) and runs them under qemu-user
# (scripts/cross-test.sh --unit-tests).
#
# How the build sees the target (see the environment set in build_env below):
# - cargo links with the cross gcc; -rpath-link lets it resolve what libavcodec.so itself
#   needs (libx264, ...) in the multiarch directory.
# - pkg-config reads only the target's .pc files: the target-suffixed PKG_CONFIG_LIBDIR
#   replaces the default search path for the target's build scripts only. Multiarch puts
#   those files under / itself, so there is no sysroot to give.
# - bindgen (in ffmpeg-sys-next's build script) gets --target=<rust target> from bindgen
#   itself and the multiarch include directory from pkg-config's -I, so clang parses the
#   FFmpeg headers with the target's type sizes (pointers, long, time_t differ on armhf).
#
# Why ffmpeg-sys-next is patched (vendor/ffmpeg-sys-next, [patch.crates-io] in Cargo.toml;
# vendor/ffmpeg-sys-next.patch is the diff, vendor/README.md its upstream status). 9.0.1's build
# script fails for armhf twice, and no setting fixes either cleanly:
# 1. It learns which FF_API_* macros exist by compiling a check program with the HOST
#    compiler and running it, with -I for the include directory pkg-config gives. Debian
#    multiarch keeps the target's FFmpeg headers in /usr/include/<triplet>, the same directory
#    as the target's glibc headers, so the host gcc then reads armhf glibc headers, which want
#    gnu/stubs-soft.h ("Compile failed"). arm64 only passes by luck: aarch64's glibc headers
#    happen to parse on x86-64. Hiding the libc (FFMPEG_DIR at a directory of links to the
#    FFmpeg header folders) works, but bypasses pkg-config and still runs a host program
#    against target headers. The patch evaluates the same macros with the target compiler's
#    preprocessor (`cc -E`), which is right for native and cross builds alike and runs
#    nothing; the x86-64 build takes the same path, so CI exercises it.
# 2. Its stand-in <vulkan/vulkan.h> asserts sizeof(VkPhysicalDeviceFeatures2) == 240, which
#    holds only with 8-byte pointers (228 on 32-bit, as in the real Vulkan headers), so
#    bindgen stops. Defining _Static_assert away in BINDGEN_EXTRA_CLANG_ARGS would silence
#    every static assertion in FFmpeg's and glibc's headers too; the patch asserts the size
#    the structure has on the target instead.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  echo "usage: $0 arm64|armhf [--no-qemu] [--install-only | --unit-tests]" >&2
  exit 2
}

arch=${1:-}
case "$arch" in
  arm64) gnu=aarch64-linux-gnu rust_target=aarch64-unknown-linux-gnu qemu=qemu-aarch64 ;;
  armhf) gnu=arm-linux-gnueabihf rust_target=armv7-unknown-linux-gnueabihf qemu=qemu-arm ;;
  *) usage ;;
esac
shift
with_qemu=1 build=binary
for option in "$@"; do
  case "$option" in
    --no-qemu) with_qemu=0 ;;
    --install-only) build=none ;;
    --unit-tests) build=unit-tests ;;
    *) usage ;;
  esac
done
[ "$build" != unit-tests ] || [ "$with_qemu" -eq 1 ] || usage

packages=(
  pkg-config clang libclang-dev
  "crossbuild-essential-$arch"
  "libavcodec-dev:$arch" "libavformat-dev:$arch" "libavutil-dev:$arch"
  "libswscale-dev:$arch" "libswresample-dev:$arch"
)
[ "$with_qemu" -eq 0 ] || packages+=(qemu-user "libavdevice-dev:$arch" "libavfilter-dev:$arch")

install_system_packages() {
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  local added=0
  if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
    $sudo dpkg --add-architecture "$arch"
    added=1
  fi
  local missing=() p
  for p in "${packages[@]}"; do
    # dpkg-query names a package of the native architecture without the suffix.
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  export DEBIAN_FRONTEND=noninteractive
  # A freshly added architecture has no package lists yet; otherwise the lists install-deps.sh
  # (or an earlier run) fetched are used first, and refreshed only if they are stale.
  if [ "$added" -eq 1 ] || ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  echo "cross-build: installed ${missing[*]}" >&2
}

install_rust_target() {
  rustup target list --installed | grep -qx "$rust_target" || rustup target add "$rust_target" >&2
}

# Target-suffixed variables only (cargo, cc, pkg-config and bindgen read them for the target),
# so build scripts and proc macros compiled for the build machine keep the native tools.
build_env() {
  local t=${rust_target//-/_}
  local T=${t^^}
  export "CARGO_TARGET_${T}_LINKER=$gnu-gcc"
  export "CARGO_TARGET_${T}_RUSTFLAGS=-C link-arg=-Wl,-rpath-link,/usr/lib/$gnu"
  export "CC_$t=$gnu-gcc" "CXX_$t=$gnu-g++" "AR_$t=$gnu-ar"
  export "PKG_CONFIG_ALLOW_CROSS_$t=1"
  export "PKG_CONFIG_LIBDIR_$t=/usr/lib/$gnu/pkgconfig:/usr/share/pkgconfig"
}

install_system_packages
install_rust_target
build_env
case "$build" in
  none) ;;
  unit-tests)
    t=${rust_target//-/_}
    export "CARGO_TARGET_${t^^}_RUNNER=$qemu -L /"
    cargo test --release --locked --quiet --target "$rust_target" --lib
    ;;
  binary)
    cargo build --release --locked --quiet --target "$rust_target" --bin hls-ladder
    echo "${CARGO_TARGET_DIR:-target}/$rust_target/release/hls-ladder"
    ;;
esac
