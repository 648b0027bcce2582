#!/usr/bin/env bash
# The demo: transcodes 20 s of the built-in test source into ./out with the default ladder,
# previews and recording playlists. No RTMP server or media file needed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cargo build --release
./target/release/hls-ladder transcode testsrc out --duration 20 --record --previews 256x144,5 "$@"
echo
echo "Watch it:  ffplay out/hls/test/local/master.m3u8"
