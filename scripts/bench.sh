#!/usr/bin/env bash
# Benchmark: hls-ladder against one ffmpeg CLI process doing the same work (decode once,
# four scaled libx264 rungs, AAC, HLS), and against the cost floor of that work (each step
# alone, single-threaded, by the ffmpeg CLI: step 3b). Reports CPU, memory, wall time and
# per-rung quality; it is a measurement, not a test, so it never judges the numbers.
#
# Knobs (environment):
#   BENCH_SECONDS       source length, seconds (default 60)
#   BENCH_THREADS       encoder threads per rung, for both tools (default: the encoder decides)
#   BENCH_FFMPEG_AUDIO  shared (default): ffmpeg encodes audio once and the tee muxer copies it
#                       into every rung, as hls-ladder does; per-output: four ordinary outputs,
#                       each with its own AAC encoder (ffmpeg cannot share an encoder across
#                       outputs), which charges ffmpeg three extra audio encodes
#   BENCH_FFMPEG_SCALE  direct (default): ffmpeg scales every rung from the decoded source;
#                       cascade: from the rung hls-ladder scales it from (a rung at least
#                       twice as large, else the source), so both do the same scaling work
#   BENCH_PASSTHROUGH=1 also the passthrough case (issue 9): hls-ladder with
#                       --original-mode copy against one ffmpeg doing the same (ORIGINAL
#                       -c:v copy, the other rungs keyed on the source's keyframes), against
#                       ffmpeg re-encoding everything as the Go worker runs it (one output
#                       per rendition, each with its own AAC encoder), and the
#                       ORIGINAL-only default job in copy and in encode mode; then the latency
#                       from a group's last source frame to its publication, at real-time pace,
#                       for that job in encode and copy mode
#   BENCH_CMAF=1        also the segment formats (issue 18): the same ladder with
#                       --segment-format ts and cmaf, in interleaved rounds; bytes stored per
#                       rendition and in total (segments, init segments, playlists) and the CPU
#                       of each mode, in $BENCH_DIR/cmaf/report.md
#   BENCH_CMAF_ONLY=1   only the segment formats (with BENCH_CMAF=1): skips the ffmpeg comparison
#   BENCH_FLOOR         every (default): the cost floor (step 3b) runs in every round, after
#                       the pair; once: in the first round only (the CI check, to stay cheap)
#   BENCH_PAIRS         how many back-to-back runs of each tool (default 1); CPU-seconds on a
#                       shared machine move by several per cent between runs, so the report
#                       gives the ratio of every pair and their median
#   BENCH_DIR           work directory (default target/bench)
#   BENCH_SKIP_BUILD=1  use the existing binary as is
#   BENCH_BIN           the binary to measure (default target/release/hls-ladder; the test
#                       that keeps this script working points it at the debug build)
#
# Output: a table on stdout and the same markdown in $BENCH_DIR/report.md.
set -euo pipefail
cd "$(dirname "$0")/.."   # hls-ladder reads profiles/ relative to the working directory

SECONDS_OF_MEDIA=${BENCH_SECONDS:-60}
THREADS=${BENCH_THREADS:-}
AUDIO_MODE=${BENCH_FFMPEG_AUDIO:-shared}
SCALE_MODE=${BENCH_FFMPEG_SCALE:-direct}
PAIRS=${BENCH_PAIRS:-1}
FLOOR=${BENCH_FLOOR:-every}
DIR=${BENCH_DIR:-target/bench}
BIN=${BENCH_BIN:-./target/release/hls-ladder}
AUDIO_KBPS=128   # the default profile's audio_kbps

die() { echo "bench: $*" >&2; exit 1; }

need() {
    command -v "$1" >/dev/null 2>&1 || die "missing '$1' (install: $2)"
}

# The CPU and memory figures come from GNU time; a shell builtin or BSD time cannot give %M.
need ffmpeg "apt-get install -y ffmpeg"
need python3 "apt-get install -y python3"
need cargo "https://rustup.rs"
[[ -x /usr/bin/time ]] && /usr/bin/time -f '%M' true >/dev/null 2>&1 \
    || die "missing GNU time at /usr/bin/time (install: apt-get install -y time)"
[[ $SECONDS_OF_MEDIA =~ ^[0-9]+$ && $SECONDS_OF_MEDIA -gt 0 ]] || die "BENCH_SECONDS must be a positive integer"
[[ -z $THREADS || $THREADS =~ ^[0-9]+$ ]] || die "BENCH_THREADS must be a number"
[[ $PAIRS =~ ^[0-9]+$ && $PAIRS -gt 0 ]] || die "BENCH_PAIRS must be a positive integer"
[[ $AUDIO_MODE == shared || $AUDIO_MODE == per-output ]] || die "BENCH_FFMPEG_AUDIO must be shared or per-output"
[[ $SCALE_MODE == direct || $SCALE_MODE == cascade ]] || die "BENCH_FFMPEG_SCALE must be direct or cascade"
[[ $FLOOR == every || $FLOOR == once ]] || die "BENCH_FLOOR must be every or once"

# Writes a command as a copy-pasteable line, for the report.
save_cmd() {
    local file=$1; shift
    python3 -c 'import shlex, sys; print(shlex.join(sys.argv[1:]))' "$@" >"$file"
}

# Runs a command under GNU time; the time file holds "user sys maxrss_kb wall".
# On failure the tail of the command's log is the useful part, so show it.
timed() {
    local name=$1 log=$2; shift 2
    echo "== running $name" >&2
    if ! /usr/bin/time -o "$DIR/$name.time" -f '%U %S %M %e' "$@" 2>"$log"; then
        tail -n 20 "$log" >&2
        die "$name failed (full log: $log)"
    fi
}

if [[ ${BENCH_SKIP_BUILD:-} != 1 ]]; then
    echo "== cargo build --release"
    cargo build --release --quiet
fi
[[ -x $BIN ]] || die "no $BIN (build it or unset BENCH_SKIP_BUILD)"
mkdir -p "$DIR"

# 1. The source, made once per length: encoding it is not part of either measurement.
SRC=$DIR/src-720p30-${SECONDS_OF_MEDIA}s.mp4
if [[ ! -s $SRC ]]; then
    echo "== making $SRC"
    ffmpeg -hide_banner -nostdin -loglevel error -y \
        -f lavfi -i testsrc2=size=1280x720:rate=30 \
        -f lavfi -i sine=frequency=440:sample_rate=48000 \
        -t "$SECONDS_OF_MEDIA" -pix_fmt yuv420p \
        -c:v libx264 -preset veryfast -crf 18 -g 60 \
        -c:a aac -b:a 128k "$SRC.tmp.mp4"
    mv "$SRC.tmp.mp4" "$SRC"
fi

# 2. The ladder hls-ladder picks; the ffmpeg command below is built from the same list so
# both tools encode the same sizes, rates and caps.
"$BIN" probe "$SRC"
"$BIN" probe --json "$SRC" >"$DIR/ladder.json"
mapfile -t RUNGS < <(python3 scripts/bench_report.py rungs "$DIR/ladder.json")
((${#RUNGS[@]} > 0)) || die "probe returned an empty ladder"

# --record keeps every segment and writes vod-0.m3u8; the live playlist keeps only the last
# few, which is not enough to measure quality over the whole run. --original-mode encode:
# the job stays the one measured before `auto` became the default (ORIGINAL and the audio
# encoded, as ffmpeg below encodes them); the passthrough case is step 6.
rm -rf "$DIR/hls-ladder"
HL_ARGS=(transcode "$SRC" "$DIR/hls-ladder" --events jsonl --record --original-mode encode)
[[ -n $THREADS ]] && HL_ARGS+=(--encoder-threads "$THREADS")
save_cmd "$DIR/hls-ladder.cmd" "$BIN" "${HL_ARGS[@]}"

# 3. One ffmpeg process: decode once, split, scale (bicubic, like hls-ladder's swscale call)
# and encode every rung with hls-ladder's x264 settings. hls-ladder's GOP is 910 frames;
# either way no periodic keyframe falls inside a 3 s segment, only the forced ones.
VIDEO_OPTS=(-c:v libx264 -preset veryfast -crf 23 -g 900 -forced-idr 1
    -x264-params scenecut=0:open-gop=0 -force_key_frames:v 'expr:gte(t,n_forced*3)')
[[ -n $THREADS ]] && VIDEO_OPTS+=(-threads:v "$THREADS")
HLS_OPTS="hls_time=3:hls_playlist_type=vod"

# ffmpeg_ladder AUDIO_MODE SCALE_MODE OUT_DIR: sets FF to the arguments of that ffmpeg run.
ffmpeg_ladder() {
    local audio=$1 scale=$2 dest=$3 graph i label kbps out
    local outputs=()   # per-output mode: one output per rung
    local tee=""       # shared mode: one tee output whose slaves each select a rung plus the audio
    local maps=() caps=()
    rm -rf "$dest"
    graph=$(python3 scripts/bench_report.py graph "$DIR/ladder.json" "$scale")
    for i in "${!RUNGS[@]}"; do
        read -r label kbps <<<"${RUNGS[$i]}"
        out=$dest/$label
        mkdir -p "$out"
        if [[ $audio == per-output ]]; then
            outputs+=(-map "[v$i]" -map 0:a "${VIDEO_OPTS[@]}" -maxrate "${kbps}k" -bufsize "$((2 * kbps))k"
                -c:a aac -b:a "${AUDIO_KBPS}k" -f hls -hls_time 3 -hls_playlist_type vod
                -hls_segment_filename "$out/%d.ts" "$out/index.m3u8")
        else
            maps+=(-map "[v$i]")
            caps+=("-maxrate:v:$i" "${kbps}k" "-bufsize:v:$i" "$((2 * kbps))k")
            tee+="${tee:+|}[select=\\'v:$i,a\\':f=hls:$HLS_OPTS:hls_segment_filename=$out/%d.ts]$out/index.m3u8"
        fi
    done
    FF=(-hide_banner -nostdin -y -loglevel warning -i "$SRC" -filter_complex "$graph")
    if [[ $audio == per-output ]]; then
        FF+=("${outputs[@]}")
    else
        FF+=("${maps[@]}" -map 0:a "${VIDEO_OPTS[@]}" "${caps[@]}" -c:a aac -b:a "${AUDIO_KBPS}k" -f tee "$tee")
    fi
}
ffmpeg_ladder "$AUDIO_MODE" "$SCALE_MODE" "$DIR/ffmpeg"
FF_ARGS=("${FF[@]}")
save_cmd "$DIR/ffmpeg.cmd" ffmpeg "${FF_ARGS[@]}"

# 3b. The cost floor: hls-ladder's work split into steps (bench_report.py floor: the decode,
# each scaling from the picture hls-ladder scales it from, each rung's x264 encode with the
# options above, the AAC encode), each run alone by one single-threaded ffmpeg and timed. A
# step that needs decoded or scaled pictures reads them as raw frames from a pipe; the ffmpeg
# feeding the pipe is not timed (a raw file would be ~1.4 MB per 720p frame on disk). Their sum
# (less what reading raw frames costs the steps, measured by the `read` step) is what these
# encoders cost at the least; hls-ladder's CPU over it is its overhead.
python3 scripts/bench_report.py floor "$DIR/ladder.json" >"$DIR/floor.tsv"
FFQ=(ffmpeg -hide_banner -nostdin -loglevel error)
floor_round() {
    local k=$1 name kind vf arg _pixels feed
    while IFS=$'\t' read -r name kind vf arg _pixels; do
        feed=(-an -vf "$vf" -c:v rawvideo)
        [[ $kind == aac ]] && feed=(-vn -c:a pcm_f32le)
        if [[ $kind == decode ]]; then
            timed "floor/$name$(suffix "$k")" "$DIR/floor/$name.log" "${FFQ[@]}" -threads 1 -i "$SRC" -f null - </dev/null
            continue
        fi
        local step=(-f null -)
        case $kind in
            scale) step=(-vf "$arg" -f null -) ;;
            encode) step=("${VIDEO_OPTS[@]}" -threads:v 1 -maxrate "${arg}k" -bufsize "$((2 * arg))k" -f null -) ;;
            aac) step=(-c:a aac -b:a "${AUDIO_KBPS}k" -f null -) ;;
        esac
        "${FFQ[@]}" -i "$SRC" "${feed[@]}" -f nut - 2>"$DIR/floor/$name.feed.log" \
            | timed "floor/$name$(suffix "$k")" "$DIR/floor/$name.log" \
                "${FFQ[@]}" -threads 1 -filter_threads 1 -f nut -i - "${step[@]}"
    done <"$DIR/floor.tsv"
}

# The runs, pair by pair (and the floor in the same round): run k writes NAME.time for k = 1
# and NAME.k.time after it.
suffix() { (($1 == 1)) || echo ".$1"; }
rm -f "$DIR"/*.time
rm -rf "$DIR/floor" && mkdir -p "$DIR/floor" && cp "$DIR/floor.tsv" "$DIR/floor/steps.tsv"
if [[ ${BENCH_CMAF_ONLY:-} != 1 ]]; then
for ((k = 1; k <= PAIRS; k++)); do
    rm -rf "$DIR/hls-ladder"
    timed "hls-ladder$(suffix $k)" "$DIR/hls-ladder.log" "$BIN" "${HL_ARGS[@]}" >"$DIR/hls-ladder.events.jsonl"
    timed "ffmpeg$(suffix $k)" "$DIR/ffmpeg.log" ffmpeg "${FF_ARGS[@]}"
    [[ $FLOOR == every || $k == 1 ]] && floor_round "$k"
done

# 4 and 5. Quality, bit rates and the report.
echo "== measuring quality (PSNR against the source scaled with the same scaler)"
python3 scripts/bench_report.py report --dir "$DIR" --source "$SRC" \
    --seconds "$SECONDS_OF_MEDIA" --audio-mode "$AUDIO_MODE" --scale-mode "$SCALE_MODE" --threads "${THREADS:-auto}"
fi

if [[ ${BENCH_CMAF:-} == 1 ]]; then
    # Segment formats: the same job in ts and cmaf mode, rounds interleaved so that the load
    # of a shared machine falls on both alike.
    C=$DIR/cmaf
    rm -rf "$C" && mkdir -p "$C" && rm -f "$C"/*.time
    for ((k = 1; k <= PAIRS; k++)); do
        for format in ts cmaf; do
            rm -rf "$C/$format"
            ARGS=(transcode "$SRC" "$C/$format" --events jsonl --record --segment-format "$format")
            [[ -n $THREADS ]] && ARGS+=(--encoder-threads "$THREADS")
            ((k == 1)) && save_cmd "$C/$format.cmd" "$BIN" "${ARGS[@]}"
            timed "cmaf/$format$(suffix $k)" "$C/$format.log" "$BIN" "${ARGS[@]}" >/dev/null
        done
    done
    python3 scripts/bench_report.py formats --dir "$DIR" --seconds "$SECONDS_OF_MEDIA" --pairs "$PAIRS"
fi

[[ ${BENCH_PASSTHROUGH:-} == 1 ]] || exit 0

# 6. Passthrough: the source (2 s GOP, as OBS is set up for streaming platforms) copied into
# ORIGINAL, the other rungs keyed on its keyframes.
P=$DIR/passthrough
rm -rf "$P" && mkdir -p "$P"
HL_COPY=(transcode "$SRC" "$P/hls-ladder" --events jsonl --record --original-mode copy)
[[ -n $THREADS ]] && HL_COPY+=(--encoder-threads "$THREADS")
save_cmd "$P/hls-ladder.cmd" "$BIN" "${HL_COPY[@]}"

# ffmpeg: stream 0 is the source's video copied; the scaled rungs follow the source's
# keyframes. The filter graph drops ORIGINAL (rung 0) and renumbers the others from 1.
graph=$(python3 scripts/bench_report.py graph "$DIR/ladder.json" "$SCALE_MODE" --skip-original)
FF_COPY=(-hide_banner -nostdin -y -loglevel warning -i "$SRC" -filter_complex "$graph" -map 0:v)
TEE=""
CAPS=()
for i in "${!RUNGS[@]}"; do
    read -r label kbps <<<"${RUNGS[$i]}"
    out=$P/ffmpeg/$label
    mkdir -p "$out"
    ((i > 0)) && FF_COPY+=(-map "[v$i]") && CAPS+=("-maxrate:v:$i" "${kbps}k" "-bufsize:v:$i" "$((2 * kbps))k")
    TEE+="${TEE:+|}[select=\\'v:$i,a\\':f=hls:$HLS_OPTS:hls_segment_filename=$out/%d.ts]$out/index.m3u8"
done
FF_COPY+=(-map 0:a -c:v libx264 -preset veryfast -crf 23 -g 900 -forced-idr 1
    -x264-params scenecut=0:open-gop=0 -force_key_frames:v source -c:v:0 copy "${CAPS[@]}")
[[ -n $THREADS ]] && FF_COPY+=(-threads:v "$THREADS")
# The source's AAC is copied too, as hls-ladder copies it.
FF_COPY+=(-c:a copy -f tee "$TEE")
save_cmd "$P/ffmpeg.cmd" ffmpeg "${FF_COPY[@]}"

# The Go worker's shape: its ffmpeg command (tcp-video-streaming hls-encoder, ffmpeg.go) gives
# every rendition its own output with `-vcodec libx264 -acodec aac` and `-vf scale=W:H`, so it
# re-encodes ORIGINAL, scales every rung from the source and encodes the audio once per
# rendition. The x264 options stay those of step 3, so the video work is the same.
ffmpeg_ladder per-output direct "$P/go-shape"
GO_ARGS=("${FF[@]}")
save_cmd "$P/go-shape.cmd" ffmpeg "${GO_ARGS[@]}"

# Each round runs the three ladders back to back: hls-ladder copying ORIGINAL, ffmpeg copying
# it, and ffmpeg as the Go worker runs it.
for ((k = 1; k <= PAIRS; k++)); do
    rm -rf "$P/hls-ladder"
    timed "passthrough/hls-ladder$(suffix $k)" "$P/hls-ladder.log" "$BIN" "${HL_COPY[@]}" >"$P/hls-ladder.events.jsonl"
    timed "passthrough/ffmpeg$(suffix $k)" "$P/ffmpeg.log" ffmpeg "${FF_COPY[@]}"
    timed "passthrough/go-shape$(suffix $k)" "$P/go-shape.log" ffmpeg "${GO_ARGS[@]}"
done

# The coordinator's default job: ORIGINAL alone, copied and encoded.
for mode in copy encode; do
    ONE=(transcode "$SRC" "$P/original-$mode" --events jsonl --resolutions ORIGINAL --original-mode "$mode")
    save_cmd "$P/original-$mode.cmd" "$BIN" "${ONE[@]}"
    timed "passthrough/original-$mode" "$P/original-$mode.log" "$BIN" "${ONE[@]}" >/dev/null
done

# Latency of the default job at the media's own pace: each event line is stamped as it
# arrives. (The whole ladder does not keep up with real time on a loaded 2-core machine,
# and then the figure measures the backlog.)
for mode in encode copy; do
    echo "== latency, $mode" >&2
    "$BIN" transcode "$SRC" "$P/latency-$mode" --events jsonl --realtime --resolutions ORIGINAL \
        --original-mode "$mode" \
        2>"$P/latency-$mode.log" | python3 scripts/bench_report.py stamp >"$P/latency-$mode.jsonl"
done

python3 scripts/bench_report.py passthrough --dir "$DIR" --source "$SRC" --seconds "$SECONDS_OF_MEDIA"
