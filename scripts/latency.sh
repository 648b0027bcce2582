#!/usr/bin/env bash
# Latency benchmark (issue 19): how far behind real time a viewer sees a live stream, with
# LL-HLS parts and with whole MPEG-TS segments. It is a measurement, not a test: it reports the
# numbers and never judges them.
#
# For each case it runs the built-in test source in real time with the origin in the same
# binary (`transcode testsrc OUT --serve 127.0.0.1:PORT --hls-time 2`):
#   ll: --segment-format cmaf --part-seconds 0.333 (LL-HLS: parts, blocking playlist reloads)
#   ts: the default MPEG-TS segments, for comparison
# and measures, at the same time:
#   - the player: the stream page (hls.js, lowLatencyMode for LL-HLS) in headless Chromium,
#     after a warm-up: now minus the PROGRAM-DATE-TIME of the frame on screen (the wall clock at
#     which that frame entered the pipeline), sampled every 200 ms; median, p95, and the stalls
#     of the window (the video's `waiting` events + hls.js BUFFER_STALLED_ERRORs)
#     (scripts/latency_player.mjs);
#   - the origin: from a frame entering the pipeline to the origin serving the part (ll) or the
#     segment (ts) that holds it, seen by a client following every rendition's playlist with
#     blocking reloads (ll) or 100 ms polls (ts) (scripts/latency_parts.py);
# then, with the ll stream still running, the origin's cost with 500 viewers blocked on the
# next part: `hls-ladder serve` started as a process of its own in front of the same directory
# (so that its CPU and memory are the origin's alone, not the encoder's) and loaded by
# scripts/origin-load.py, whose JSON line is reported as it is.
#
# Knobs (environment):
#   LATENCY_SECONDS     the measured window, seconds (default 30)
#   LATENCY_WARMUP      seconds of playing before the window (default 10)
#   LATENCY_PART        part target of the ll case, seconds (default 0.333)
#   LATENCY_HLS_TIME    segment length of both cases, seconds (default 2)
#   LATENCY_CASES       which cases, in order (default "ll ts")
#   LATENCY_VIEWERS     blocked viewers for the origin's cost (default 500; 0: skip)
#   LATENCY_ARGS        more transcode arguments for both cases (e.g. "--resolutions
#                       640x360-30" on a machine that cannot encode the default ladder in
#                       real time: the report's origin drift shows it)
#   LATENCY_DIR         work directory (default target/latency)
#   LATENCY_SKIP_BUILD=1  use the existing binary as is
#   LATENCY_BIN         the binary to measure (default target/release/hls-ladder)
#
# Output: a table on stdout, the same markdown in $LATENCY_DIR/report.md, every figure in
# $LATENCY_DIR/latency.json.
set -euo pipefail
cd "$(dirname "$0")/.."   # hls-ladder reads profiles/ relative to the working directory

SECONDS_MEASURED=${LATENCY_SECONDS:-30}
WARMUP=${LATENCY_WARMUP:-10}
PART=${LATENCY_PART:-0.333}
HLS_TIME=${LATENCY_HLS_TIME:-2}
CASES=${LATENCY_CASES:-ll ts}
VIEWERS=${LATENCY_VIEWERS:-500}
read -r -a EXTRA <<<"${LATENCY_ARGS:-}"
DIR=${LATENCY_DIR:-target/latency}
BIN=${LATENCY_BIN:-./target/release/hls-ladder}
export NODE_PATH=${NODE_PATH:-$PWD/target/npm/node_modules}

die() { echo "latency: $*" >&2; exit 1; }

need() {
    command -v "$1" >/dev/null 2>&1 || die "missing '$1' (install: $2)"
}

need python3 "apt-get install -y python3"
need node "scripts/install-deps.sh"
[[ -x ${CHROMIUM:-/usr/bin/chromium} ]] || die "no Chromium at ${CHROMIUM:-/usr/bin/chromium} (scripts/install-deps.sh installs it; or set CHROMIUM)"
[[ -d $NODE_PATH/playwright-core ]] || die "no playwright-core in $NODE_PATH (scripts/install-deps.sh installs it)"
[[ $SECONDS_MEASURED =~ ^[0-9]+$ && $SECONDS_MEASURED -gt 0 ]] || die "LATENCY_SECONDS must be a positive integer"
[[ $WARMUP =~ ^[0-9]+$ ]] || die "LATENCY_WARMUP must be an integer"
[[ $VIEWERS =~ ^[0-9]+$ ]] || die "LATENCY_VIEWERS must be an integer"
for c in $CASES; do [[ $c == ll || $c == ts ]] || die "LATENCY_CASES: unknown case '$c' (ll, ts)"; done

if [[ ${LATENCY_SKIP_BUILD:-} != 1 ]]; then
    need cargo "https://rustup.rs"
    echo "== cargo build --release"
    cargo build --release --quiet --bin hls-ladder
fi
[[ -x $BIN ]] || die "no $BIN (build it or unset LATENCY_SKIP_BUILD)"
if [[ " $CASES " == *" ll "* ]] && ! "$BIN" transcode --help | grep -q -- --part-seconds; then
    die "$BIN has no --part-seconds: it cannot write LL-HLS parts (build a newer one, or LATENCY_CASES=ts)"
fi
rm -rf "$DIR"
mkdir -p "$DIR"

TRANSCODE_PID=
ORIGIN_PID=
cleanup() {
    if [[ -n $ORIGIN_PID ]]; then
        kill "$ORIGIN_PID" 2>/dev/null || true
        wait "$ORIGIN_PID" 2>/dev/null || true
    fi
    if [[ -n $TRANSCODE_PID ]] && kill -0 "$TRANSCODE_PID" 2>/dev/null; then
        kill -INT "$TRANSCODE_PID" 2>/dev/null || true
        wait "$TRANSCODE_PID" 2>/dev/null || true
    fi
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# http_ok URL: whether URL answers 200 now.
http_ok() {
    python3 - "$1" <<'EOF'
import sys, urllib.request
try:
    sys.exit(0 if urllib.request.urlopen(sys.argv[1], timeout=5).status == 200 else 1)
except Exception:
    sys.exit(1)
EOF
}

# first_media_url MASTER_URL: the URL of the first media playlist the master lists.
first_media_url() {
    python3 - "$1" <<'EOF'
import sys, urllib.parse, urllib.request
text = urllib.request.urlopen(sys.argv[1], timeout=5).read().decode()
uri = next(l.strip() for l in text.splitlines() if l.strip() and not l.startswith("#"))
print(urllib.parse.urljoin(sys.argv[1], uri))
EOF
}

# measure_origin_load CASE_DIR MEDIA_PATH: $VIEWERS viewers blocked on MEDIA_PATH of a
# `serve` process of its own in front of CASE_DIR/out, while the transcode writes it.
measure_origin_load() {
    local case_dir=$1 path=$2 port deadline
    port=$(free_port)
    "$BIN" serve "$case_dir/out" --listen "127.0.0.1:$port" >"$case_dir/origin-serve.log" 2>&1 &
    ORIGIN_PID=$!
    deadline=$((SECONDS + 20))
    until http_ok "http://127.0.0.1:$port$path"; do
        ((SECONDS < deadline)) || die "ll: serve did not answer on 127.0.0.1:$port (log: $case_dir/origin-serve.log)"
        sleep 0.2
    done
    echo "   origin: $VIEWERS blocked viewers on a serve process of its own"
    python3 scripts/origin-load.py --url "http://127.0.0.1:$port$path" --pid "$ORIGIN_PID" --clients "$VIEWERS" \
        >"$case_dir/origin-load.json" 2>"$case_dir/origin-load.log" \
        || { cat "$case_dir/origin-load.log" >&2; die "ll: scripts/origin-load.py failed (log: $case_dir/origin-load.log)"; }
    kill "$ORIGIN_PID"
    wait "$ORIGIN_PID" 2>/dev/null || true
    ORIGIN_PID=
}

# run_case NAME TRANSCODE_ARGS...: one stream, measured; results in $DIR/NAME/.
run_case() {
    local name=$1; shift
    local case_dir=$DIR/$name port base master media deadline
    mkdir -p "$case_dir"
    port=$(free_port)
    base=http://127.0.0.1:$port
    master=$base/hls/test/local/master.m3u8
    local args=(transcode testsrc "$case_dir/out" --serve "127.0.0.1:$port" --hls-time "$HLS_TIME" "$@" "${EXTRA[@]}")
    python3 -c 'import shlex, sys; print(shlex.join(sys.argv[1:]))' "$BIN" "${args[@]}" >"$case_dir/transcode.cmd"
    echo "== $name: $(cat "$case_dir/transcode.cmd")"
    "$BIN" "${args[@]}" >"$case_dir/transcode.log" 2>&1 &
    TRANSCODE_PID=$!

    deadline=$((SECONDS + 60))
    until http_ok "$master"; do
        kill -0 "$TRANSCODE_PID" 2>/dev/null || { tail -n 20 "$case_dir/transcode.log" >&2; die "$name: the transcode ended"; }
        ((SECONDS < deadline)) || die "$name: no $master after 60 s (log: $case_dir/transcode.log)"
        sleep 0.2
    done
    media=$(first_media_url "$master")
    if [[ $name == ll ]] && ! python3 -c 'import sys, urllib.request; sys.exit(b"#EXT-X-PART-INF" not in urllib.request.urlopen(sys.argv[1]).read())' "$media"; then
        die "ll: $media lists no parts (EXT-X-PART-INF): the worker wrote no LL-HLS playlist"
    fi

    # The origin client and the player measure the same stretch of the stream; Chromium needs
    # a few seconds to start, which the client's longer warm-up covers.
    python3 scripts/latency_parts.py --master "$master" --warmup "$((WARMUP + 3))" --seconds "$SECONDS_MEASURED" \
        --out "$case_dir/origin.json" >/dev/null 2>"$case_dir/origin.log" &
    local parts_pid=$!
    echo "   playing: ${WARMUP} s warm-up, ${SECONDS_MEASURED} s measured"
    node scripts/latency_player.mjs "$base" test/local "$WARMUP" "$SECONDS_MEASURED" "$case_dir/player.json" \
        >/dev/null 2>"$case_dir/player.log" \
        || { cat "$case_dir/player.log" >&2; die "$name: the player measurement failed"; }
    wait "$parts_pid" || { cat "$case_dir/origin.log" >&2; die "$name: the origin measurement failed (log: $case_dir/origin.log)"; }

    if [[ $name == ll && $VIEWERS -gt 0 ]]; then
        measure_origin_load "$case_dir" "${media#"$base"}"
    fi

    kill -INT "$TRANSCODE_PID"
    wait "$TRANSCODE_PID" || die "$name: the transcode failed after Ctrl-C (log: $case_dir/transcode.log)"
    TRANSCODE_PID=
}

for c in $CASES; do
    case $c in
        ll) run_case ll --segment-format cmaf --part-seconds "$PART" ;;
        ts) run_case ts ;;
    esac
done

python3 - "$DIR" "$SECONDS_MEASURED" "$WARMUP" "$PART" "$HLS_TIME" "$VIEWERS" $CASES <<'EOF'
import datetime, json, os, sys

d, seconds, warmup, part, hls_time, viewers, *cases = sys.argv[1:]
read = lambda *p: json.load(open(os.path.join(d, *p))) if os.path.exists(os.path.join(d, *p)) else None
results = {
    "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "seconds": int(seconds),
    "warmup_s": int(warmup),
    "part_target_s": float(part),
    "hls_time_s": float(hls_time),
    "cases": {},
}
titles = {"ll": f"LL-HLS (cmaf, parts {part} s)", "ts": "MPEG-TS segments"}
for c in cases:
    results["cases"][c] = {
        "command": open(os.path.join(d, c, "transcode.cmd")).read().strip(),
        "player": read(c, "player.json"),
        "origin": read(c, "origin.json"),
        "origin_load": read(c, "origin-load.json"),
    }
with open(os.path.join(d, "latency.json"), "w") as out:
    json.dump(results, out, indent=2)

def cell(value, fmt="{:.2f}"):
    return "–" if value is None else fmt.format(value)

rows = [
    ("player: delay behind real time, median s", lambda r: cell(r["player"]["median_s"])),
    ("player: delay, p95 s", lambda r: cell(r["player"]["p95_s"])),
    ("player: stalls (waiting + hls.js stalled)", lambda r: f'{r["player"]["stalls"]} ({r["player"]["waiting_events"]} + {r["player"]["buffer_stalled_errors"]})'),
    ("player: hls.js lowLatencyMode, target latency s", lambda r: f'{"on" if r["player"]["playlist"] else "off"}, {cell(r["player"]["target_latency_s"])}'),
    ("origin: frame in → its part/segment served, median s", lambda r: cell(r["origin"].get("median_s"))),
    ("origin: same, p95 s", lambda r: cell(r["origin"].get("p95_s"))),
    ("origin: parts/segments counted", lambda r: f'{r["origin"]["count"]} {r["origin"]["kind"]}'),
    ("origin: drift over the window s (≫ 0: not real time)", lambda r: cell(r["origin"].get("drift_s"))),
]
lines = [
    f"Latency, {results['date']}: {seconds} s measured after {warmup} s of warm-up, --hls-time {hls_time}",
    "",
    "| | " + " | ".join(titles[c] for c in cases) + " |",
    "|---|" + "---|" * len(cases),
]
for label, fn in rows:
    lines.append(f"| {label} | " + " | ".join(fn(results["cases"][c]) for c in cases) + " |")
load = results["cases"].get("ll", {}).get("origin_load")
if "ll" in cases and int(viewers) > 0:
    lines += ["", f"origin with {viewers} blocked viewers: {json.dumps(load)}"]
report = "\n".join(lines) + "\n"
open(os.path.join(d, "report.md"), "w").write(report)
print(report)
print(f"figures: {os.path.join(d, 'latency.json')}")
EOF
