#!/usr/bin/env bash
# Load: N live 720p30 streams (the default ladder each) through nginx-rtmp into one worker
# with the fake coordinator, for each N and each SERVER_CAPACITY setting, against N ffmpeg
# CLI processes doing the same ladder from the same ingest (the Go worker's shape), in the
# same run. Reports, per row, whether every stream kept up (its smallest rendition published
# at least window/T - 1 segments in the measured window), the process tree's CPU (cores) and
# peak memory, and what the worker shed or refused. A measurement: it never judges.
#
# Knobs (environment), with defaults:
#   LOAD_STREAMS="1 2 3"     stream counts
#   LOAD_CAPACITY="-1 auto"  SERVER_CAPACITY values for the worker rows
#   LOAD_SECONDS=40          measured window per row, seconds
#   LOAD_WARMUP=20           seconds from the streams' start to the window
#   LOAD_FFMPEG=1            0: skip the ffmpeg rows
#   LOAD_REPORT=target/load/report.md
#
# About (warmup + window) x rows: the defaults take ~9 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/target/venv/bin:$PWD/target/npm/bin:$PATH"
command -v nginx >/dev/null || { echo "load: nginx missing; run scripts/install-deps.sh" >&2; exit 1; }
cargo test --release --test load load_sweep -- --ignored --nocapture --test-threads=1
echo "report: ${LOAD_REPORT:-target/load/report.md}"
