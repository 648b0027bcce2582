#!/usr/bin/env bash
# The test command: unit tests and integration tests that run the real binary against the
# real FFmpeg libraries, nginx with the RTMP module and the ffmpeg CLI as a publisher.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# Integration tests each run several encoders; two at a time fit this machine size.
cargo test --all-targets -- --test-threads=2 "$@"
