#!/usr/bin/env bash
# The demo: transcodes the built-in test source in real time (default ladder, previews,
# recording) into ./out and serves it: open the printed URL to watch it live in a browser.
# No RTMP server, media file or internet access needed. Ends by itself after DEMO_SECONDS
# (default 120), or on Ctrl-C; ./out stays, and `hls-ladder serve out` serves it again.
# DEMO_LISTEN (default 127.0.0.1:8080) is the address to serve on; any further arguments go
# to `hls-ladder transcode`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cargo build --release
bin="${CARGO_TARGET_DIR:-target}/release/hls-ladder"
listen="${DEMO_LISTEN:-127.0.0.1:8080}"
echo
echo "Open http://$listen/watch/test/local in a browser (every stream: http://$listen/)."
echo
"$bin" transcode testsrc out --duration "${DEMO_SECONDS:-120}" --record --previews 256x144,5 \
  --serve "$listen" "$@"
echo
echo "The stream has ended. Watch the recording again: $bin serve out --listen $listen"
echo "or without a browser: ffplay out/hls/test/local/master-vod-0.m3u8"
