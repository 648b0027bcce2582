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
#
# Then the deep-overload row (docs/overload.md): LOAD_DEEP_STREAMS=3 default-ladder streams on
# a worker pinned with taskset to LOAD_DEEP_CPUS=0 (one core) for LOAD_DEEP_SECONDS=90: time
# to Capacity:0, time until every stream keeps pace, renditions shed, GOP drops. To compare
# builds, LOAD_DEEP_BINS="/path/to/older/hls-ladder target/release/hls-ladder".
# LOAD_DEEP=0 skips it; LOAD_SWEEP=0 skips the sweep.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/target/venv/bin:$PWD/target/npm/bin:$PATH"
command -v nginx >/dev/null || { echo "load: nginx missing; run scripts/install-deps.sh" >&2; exit 1; }
if [ "${LOAD_SWEEP:-1}" = 1 ]; then
  cargo test --release --test load load_sweep -- --ignored --nocapture --test-threads=1
  echo "report: ${LOAD_REPORT:-target/load/report.md}"
fi
if [ "${LOAD_DEEP:-1}" = 1 ]; then
  command -v taskset >/dev/null || { echo "load: taskset missing (util-linux)" >&2; exit 1; }
  cargo test --release --test load deep_overload -- --ignored --nocapture --test-threads=1
  echo "report: ${LOAD_DEEP_REPORT:-target/load/deep.md}"
fi
