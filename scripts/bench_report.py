#!/usr/bin/env python3
"""Helpers for scripts/bench.sh (standard library only).

  bench_report.py rungs LADDER_JSON
      One line per rung of `hls-ladder probe --json`: label and kbps cap,
      which bench.sh turns into the equivalent ffmpeg command.
  bench_report.py graph LADDER_JSON direct|cascade
      The ffmpeg -filter_complex producing [v0]..[vN-1] in ladder order: every rung scaled
      from the decoded source (direct), or from the rung hls-ladder itself scales it from
      (cascade: same work as hls-ladder, see cascade_parents in src/pipeline/mod.rs).
  bench_report.py floor LADDER_JSON
      The steps of the cost floor (the main job's work, each step alone): one line per step,
      tab-separated: name, kind (decode, scale, encode, aac, read), the video filter that makes
      the step's input picture from the source (`null`: the decoded source), the kind's
      argument (scale: the scale filter; encode: the kbps cap), and the raw pixels the step
      reads from its pipe per source pixel (0: it reads no raw video).
  bench_report.py report --dir DIR --source SRC --seconds N --audio-mode M --threads T
      Reads the GNU time files and outputs of both runs, measures per-rung PSNR and bit rate,
      prints the report and writes it to DIR/report.md.
  bench_report.py stamp
      Copies JSON lines from stdin to stdout, each with "wall": the time it arrived.
  bench_report.py passthrough --dir DIR --source SRC --seconds N
      The passthrough case (BENCH_PASSTHROUGH=1): CPU, memory, PSNR per rung and latency,
      printed and written to DIR/passthrough/report.md.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

# What the default profile gives a 1280x720@30 source (profiles/default.toml); a different
# ladder is still benchmarked, but the numbers would not be comparable with earlier runs.
EXPECTED_DEFAULT = {(1280, 720, 2800), (854, 480, 1400), (640, 360, 800), (426, 240, 400)}


def die(msg):
    sys.exit(f"bench_report: {msg}")


def load_ladder(path):
    return json.loads(Path(path).read_text())["ladder"]


def cmd_rungs(args):
    ladder = load_ladder(args.ladder)
    got = {(r["encoded_width"], r["encoded_height"], r["max_kbps"]) for r in ladder}
    if got != EXPECTED_DEFAULT:
        print(f"bench_report: warning: ladder {sorted(got)} is not the expected default", file=sys.stderr)
    for r in ladder:
        if r["max_kbps"] is None:
            die(f"rung {r['label']} has no bit-rate cap; the ffmpeg side needs one")
        print(r["label"], r["max_kbps"])


def source_size(probe):
    for stream in probe["streams"]:
        if stream["kind"] == "video":
            w, h = re.match(r"(\d+)x(\d+)", stream["detail"]).groups()
            return int(w), int(h)
    die("probe shows no video stream")


def cascade_parents(ladder, source_w, source_h):
    """hls-ladder's rule, restated: a rung scales from the smallest non-ORIGINAL rung at
    least twice its size in both dimensions that is smaller than the source and has at least
    its frame rate; otherwise from the source."""
    def area(r):
        return r["encoded_width"] * r["encoded_height"]

    def rate(r):
        return r["rate"][0] / r["rate"][1]

    parents = []
    for child in ladder:
        candidates = [(area(p), i) for i, p in enumerate(ladder)
                      if not p["original"] and area(p) < source_w * source_h
                      and p["encoded_width"] >= 2 * child["encoded_width"]
                      and p["encoded_height"] >= 2 * child["encoded_height"]
                      and rate(p) >= rate(child)]
        parents.append(min(candidates)[1] if candidates else None)
    return parents


def cmd_graph(args):
    probe = json.loads(Path(args.ladder).read_text())
    ladder = probe["ladder"]
    if args.mode == "cascade":
        parents = cascade_parents(ladder, *source_size(probe))
    else:
        parents = [None] * len(ladder)
    # Each picture (the source, or a scaled rung) is split between its encoder and the
    # rungs scaled from it; a split with one output is harmless.
    # --skip-original: ORIGINAL is copied, not scaled (it is never a cascade parent).
    skip = {i for i, r in enumerate(ladder) if args.skip_original and r["original"]}
    children = {p: [i for i, q in enumerate(parents) if q == p and i not in skip]
                for p in [None, *range(len(ladder))]}
    parts = ["[0:v]split=%d%s" % (len(children[None]), "".join(f"[from_src_to{i}]" for i in children[None]))]
    for i, r in enumerate(ladder):
        if i in skip:
            continue
        src = "from_src" if parents[i] is None else f"from{parents[i]}"
        num, den = r["rate"]
        chain = f"[{src}_to{i}]scale={r['encoded_width']}:{r['encoded_height']}:flags=bicubic,fps={num}/{den}"
        if children[i]:
            outs = f"[v{i}]" + "".join(f"[from{i}_to{c}]" for c in children[i])
            chain += f",split={1 + len(children[i])}{outs}"
        else:
            chain += f"[v{i}]"
        parts.append(chain)
    print(";".join(parts))


def cmd_floor(args):
    """hls-ladder's work for this ladder, split into single steps: the source decoded once,
    each scaling from the picture hls-ladder scales it from (cascade_parents), each rung's x264
    encode and the AAC encode; plus `read`, what taking raw 720p frames from the pipe costs
    (shown, not counted)."""
    probe = json.loads(Path(args.ladder).read_text())
    ladder = probe["ladder"]
    source_w, source_h = source_size(probe)
    parents = cascade_parents(ladder, source_w, source_h)

    def share(i):
        """Rung i's picture in pixels per source pixel (the source itself: None)."""
        if i is None or ladder[i]["original"]:
            return 1.0
        return ladder[i]["encoded_width"] * ladder[i]["encoded_height"] / (source_w * source_h)

    def scale(r):
        return f"scale={r['encoded_width']}:{r['encoded_height']}:flags=bicubic"

    def picture(i):
        """The filter chain from the decoded source to rung i's picture."""
        if ladder[i]["original"]:
            return []
        chain = [] if parents[i] is None else picture(parents[i])
        return chain + [scale(ladder[i])]

    steps = [("decode", "decode", "null", "-", "0")]
    for i, r in enumerate(ladder):
        if not r["original"]:
            source = ",".join(picture(parents[i])) if parents[i] is not None else "null"
            steps.append((f"scale-{r['encoded_width']}x{r['encoded_height']}", "scale", source, scale(r),
                          f"{share(parents[i]):.4f}"))
    for i, r in enumerate(ladder):
        steps.append((f"x264-{r['label']}", "encode", ",".join(picture(i)) or "null", str(r["max_kbps"]),
                      f"{share(i):.4f}"))
    steps += [("aac", "aac", "null", "-", "0"), ("read", "read", "null", "-", "1.0000")]
    for step in steps:
        print("\t".join(step))


def floor_steps(d):
    """The floor's steps that bench.sh timed (DIR/floor/NAME.time), in its order: name and the
    raw pixels it reads from its pipe per source pixel."""
    rows = [line.split("\t") for line in (d / "floor" / "steps.tsv").read_text().splitlines()]
    return [(r[0], float(r[4])) for r in rows if (d / "floor" / f"{r[0]}.time").is_file()]


def floor_lines(d, hl_runs, seconds):
    """The floor's table and the ratio of hls-ladder's CPU to it, pair by pair."""
    steps = floor_steps(d)
    if not steps:
        return []
    names = [n for n, _ in steps]
    runs = {name: read_times(d / "floor", name) for name in names}
    counted = [(n, px) for n, px in steps if n != "read"]
    pairs = min(len(runs[n]) for n in names)
    gross = [sum(runs[n][k]["cpu"] for n, _ in counted) for k in range(pairs)]
    # What reading raw frames costs each step, from the `read` step (source-size frames in,
    # nothing done), in proportion to the pixels the step reads: hls-ladder hands pictures
    # between its stages in memory, so this is no part of the encoders' floor.
    pipe = [runs["read"][k]["cpu"] * sum(px for _, px in counted) if "read" in runs else 0.0
            for k in range(pairs)]
    sums = [g - p for g, p in zip(gross, pipe)]
    lines = ["", "The cost floor: the same work as hls-ladder's, each step run alone by the ffmpeg CLI with one "
             "thread, on raw frames from a pipe (the ffmpeg that decodes and scales them is not counted), "
             "less what reading those frames costs. CPU s per step (every round):", "",
             "| floor step | CPU s |", "|---|---:|"]
    for n in names:
        cells = " / ".join(f"{r['cpu']:.2f}" for r in runs[n][:pairs])
        note = " (reading raw source-size frames from a pipe, doing nothing else)" if n == "read" else ""
        lines.append(f"| {n}{note} | {cells} |")
    lines.append(f"| sum of the counted steps | {' / '.join(f'{s:.2f}' for s in gross)} |")
    lines.append(f"| less reading their raw frames (`read` x pixels read) | {' / '.join(f'{p:.2f}' for p in pipe)} |")
    lines.append(f"| CPU floor s | {' / '.join(f'{s:.2f}' for s in sums)} |")
    ratios = [h["cpu"] / f for h, f in zip(hl_runs, sums)]
    gross_ratios = [h["cpu"] / g for h, g in zip(hl_runs, gross)]
    lines += ["", f"CPU floor per media s: {sums[0] / seconds:.3f}.  ",
              f"CPU hls-ladder / sum of the steps as run (pipe reads included): "
              + " / ".join(f"{r:.2f}" for r in gross_ratios) + ".  ",
              f"CPU hls-ladder / floor, {len(ratios)} round(s): " + " / ".join(f"{r:.2f}" for r in ratios)
              + f"; median {statistics.median(ratios):.2f}."]
    return lines


def read_time(path):
    """GNU time's "user sys maxrss_kb wall" (its last line; a failed command adds one above)."""
    user, sys_, rss_kb, wall = Path(path).read_text().splitlines()[-1].split()
    return {"cpu": float(user) + float(sys_), "rss_mb": int(rss_kb) / 1024, "wall": float(wall)}


def read_times(d, name):
    """Every run of NAME in directory d, in order: NAME.time, then NAME.2.time, NAME.3.time..."""
    runs = [read_time(d / f"{name}.time")]
    k = 2
    while (d / f"{name}.{k}.time").is_file():
        runs.append(read_time(d / f"{name}.{k}.time"))
        k += 1
    return runs


def pairs_line(label, hl, ff):
    """The CPU ratio of each back-to-back pair and their median, for BENCH_PAIRS > 1."""
    ratios = [h["cpu"] / f["cpu"] for h, f in zip(hl, ff)]
    return (f"{label}, {len(ratios)} pairs: " + " / ".join(f"{r:.2f}" for r in ratios)
            + f"; median {statistics.median(ratios):.2f}.")


def check_closed_cleanly(events_path):
    for line in Path(events_path).read_text().splitlines():
        event = json.loads(line)
        if event.get("event") == "closed":
            if event.get("reason") != "EndOfStream":
                die(f"hls-ladder closed with {event}")
            return
    die(f"no 'closed' event in {events_path}")


def playlist_rate(playlist):
    """(kbps, seconds) over the segments a media playlist lists: audio and TS overhead included."""
    seconds, total_bytes = 0.0, 0
    for line in playlist.read_text().splitlines():
        if line.startswith("#EXTINF:"):
            seconds += float(line[len("#EXTINF:"):].split(",")[0])
        elif line and not line.startswith("#"):
            total_bytes += (playlist.parent / line).stat().st_size
    if seconds <= 0:
        die(f"{playlist} lists no media")
    return total_bytes * 8 / seconds / 1000, seconds


def psnr(playlist, source, width, height, stats):
    """PSNR of a rung against the source scaled to its size by the same bicubic swscale.
    Both sides restart at t=0: the HLS output carries MPEG-TS timestamps (hls-ladder starts
    at 10 s), and the psnr filter pairs frames by timestamp."""
    graph = (f"[0:v]setpts=PTS-STARTPTS[out];"
             f"[1:v]scale={width}:{height}:flags=bicubic,setpts=PTS-STARTPTS[ref];"
             f"[out][ref]psnr=stats_file={stats}")
    cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-i", str(playlist), "-i", str(source),
           "-lavfi", graph, "-f", "null", "-"]
    run = subprocess.run(cmd, capture_output=True, text=True)
    found = re.search(r"PSNR y:([\d.]+|inf) .*average:([\d.]+|inf)", run.stderr)
    if run.returncode != 0 or not found:
        die(f"PSNR failed: {' '.join(cmd)}\n{run.stderr[-2000:]}")
    frames = sum(1 for _ in open(stats))
    return float(found.group(1)), float(found.group(2)), frames


def hls_ladder_playlist(root, label):
    rung_dir = root / "hls" / "test" / "local" / label
    if not rung_dir.is_dir():
        present = sorted(p.name for p in rung_dir.parent.iterdir()) if rung_dir.parent.is_dir() else []
        die(f"no {rung_dir}; found {present}")
    return rung_dir / "vod-0.m3u8"


def measure_rungs(d, source, ladder, seconds):
    rows = []
    for r in ladder:
        w, h, label = r["encoded_width"], r["encoded_height"], r["label"]
        num, den = r["rate"]
        want_frames = round(seconds * num / den)
        row = {"label": label}
        outputs = {"hls-ladder": hls_ladder_playlist(d / "hls-ladder", label),
                   "ffmpeg": d / "ffmpeg" / label / "index.m3u8"}
        for tool, playlist in outputs.items():
            if not playlist.is_file():
                die(f"{tool}: no playlist {playlist}")
            print(f"   {tool} {label}", file=sys.stderr)
            kbps, _ = playlist_rate(playlist)
            y, avg, frames = psnr(playlist, source, w, h, d / f"psnr-{tool}-{label}.log")
            if frames != want_frames:
                print(f"bench_report: warning: {tool} {label}: PSNR over {frames} frames, "
                      f"source has {want_frames}", file=sys.stderr)
            row[tool] = {"y": y, "avg": avg, "kbps": kbps, "frames": frames}
        rows.append(row)
    return rows


def ffmpeg_version():
    out = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout
    return out.split("\n")[0].split(" ")[2]


def render(a, ladder, times, rows):
    hl, ff = times["hls-ladder"][0], times["ffmpeg"][0]
    s = a.seconds
    audio = ("shared: one AAC encode, copied into every rung by the tee muxer (as hls-ladder does)"
             if a.audio_mode == "shared" else
             "per-output: one AAC encode per rung (4x; ffmpeg cannot share an encoder between outputs)")
    scale = ("direct: every rung scaled from the source (hls-ladder scales a rung from another "
             "at least twice its size where there is one, so it scales less)"
             if a.scale_mode == "direct" else
             "cascade: rungs scaled from the same parents as in hls-ladder")
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        "# hls-ladder benchmark",
        "",
        f"Source: {s} s of testsrc2 1280x720@30 + 440 Hz sine, H.264 CRF 18 + AAC (`{a.source}`).  ",
        f"Ladder: {', '.join(r['label'] for r in ladder)}.  ",
        f"Machine: {os.cpu_count()} CPUs, load average after the runs {load}; ffmpeg {ffmpeg_version()}.  ",
        f"Encoder threads per rung: {a.threads}.  ",
        f"ffmpeg audio: {audio}.  ",
        f"ffmpeg scaling: {scale}.",
        "",
        "| | hls-ladder | ffmpeg | hls-ladder / ffmpeg |",
        "|---|---:|---:|---:|",
    ]
    for name, key, scale, fmt in [("CPU s per media s", "cpu", 1 / s, "{:.3f}"),
                                  ("CPU s (user+sys)", "cpu", 1, "{:.1f}"),
                                  ("peak RSS MB", "rss_mb", 1, "{:.0f}"),
                                  ("wall s", "wall", 1, "{:.1f}")]:
        x, y = hl[key] * scale, ff[key] * scale
        lines.append(f"| {name} | {fmt.format(x)} | {fmt.format(y)} | {x / y:.2f} |")
    if len(times["hls-ladder"]) > 1:
        lines += ["", "The table shows the first pair. "
                  + pairs_line("CPU hls-ladder / ffmpeg", times["hls-ladder"], times["ffmpeg"])]
    lines += floor_lines(a.dir, times["hls-ladder"], s)
    lines += [
        "",
        "| rung | hls-ladder PSNR Y / avg dB | hls-ladder kbps | ffmpeg PSNR Y / avg dB | ffmpeg kbps |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        h, f = row["hls-ladder"], row["ffmpeg"]
        lines.append(f"| {row['label']} | {h['y']:.2f} / {h['avg']:.2f} | {h['kbps']:.0f} "
                     f"| {f['y']:.2f} / {f['avg']:.2f} | {f['kbps']:.0f} |")
    lines += [
        "",
        "kbps: segment bytes x 8 / playlist duration, audio and MPEG-TS overhead included.",
        "PSNR: each rung against the source scaled to its size (bicubic swscale).",
        "CPU and memory: GNU time over the whole process; wall time depends on other load.",
        "",
        "Commands:",
        "",
        "```sh",
        (a.dir / "hls-ladder.cmd").read_text().strip(),
        (a.dir / "ffmpeg.cmd").read_text().strip(),
        "```",
        "",
    ]
    return "\n".join(lines)


def cmd_report(a):
    ladder = load_ladder(a.dir / "ladder.json")
    check_closed_cleanly(a.dir / "hls-ladder.events.jsonl")
    times = {tool: read_times(a.dir, tool) for tool in ("hls-ladder", "ffmpeg")}
    rows = measure_rungs(a.dir, a.source, ladder, a.seconds)
    report = render(a, ladder, times, rows)
    (a.dir / "report.md").write_text(report)
    print(report)
    print(f"(written to {a.dir / 'report.md'})")


def cmd_stamp(_args):
    for line in sys.stdin:
        event = json.loads(line)
        event["wall"] = time.time()
        print(json.dumps(event), flush=True)


def latency(path, rate=30):
    """Per published group: seconds from its last source frame entering the pipeline to its
    `segment` event, which the publisher emits once the group's playlists are written. At
    real-time pace, media time t enters at `first + t`; `first` comes from the `progress`
    events (sent as frame t is read, through the same channel and stamper as the segment
    events, so their own delay cancels out): the earliest `wall - media_seconds`."""
    events = [json.loads(line) for line in Path(path).read_text().splitlines()]
    anchors = [e["wall"] - e["media_seconds"] for e in events if e.get("event") == "progress"]
    if not anchors:
        die(f"no progress events in {path}")
    first, out = min(anchors), []
    for event in events:
        if event.get("event") == "segment":
            end = event["timeline_end"]
            end = end[0] / end[1] if isinstance(end, list) else float(end)
            out.append(event["wall"] - (first + end - 1 / rate))
    if not out:
        die(f"no segment events in {path}")
    return out


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def cmd_passthrough(a):
    d, p, s = a.dir, a.dir / "passthrough", a.seconds
    ladder = load_ladder(d / "ladder.json")
    check_closed_cleanly(p / "hls-ladder.events.jsonl")
    runs = {
        "hls-ladder copy": read_times(p, "hls-ladder"),
        "ffmpeg copy": read_times(p, "ffmpeg"),
        "ffmpeg encode (Go worker's shape)": read_times(p, "go-shape"),
        "hls-ladder encode": read_times(d, "hls-ladder"),
        "ORIGINAL only, copy": read_times(p, "original-copy"),
        "ORIGINAL only, encode": read_times(p, "original-encode"),
    }
    t = {name: v[0] for name, v in runs.items()}
    go = t["ffmpeg encode (Go worker's shape)"]["cpu"]
    lines = ["# hls-ladder passthrough benchmark", "",
             f"Source: `{a.source}` ({s} s, H.264 with a keyframe every 2 s); ladder "
             f"{', '.join(r['label'] for r in ladder)}.", "",
             "| run | CPU s per media s | / Go worker's shape | peak RSS MB | wall s |",
             "|---|---:|---:|---:|---:|"]
    for name, v in t.items():
        lines.append(f"| {name} | {v['cpu'] / s:.3f} | {v['cpu'] / go:.2f} | {v['rss_mb']:.0f} | {v['wall']:.1f} |")
    hl, ff = t["hls-ladder copy"]["cpu"], t["ffmpeg copy"]["cpu"]
    one = t["ORIGINAL only, copy"]["cpu"] / t["ORIGINAL only, encode"]["cpu"]
    lines += ["", f"hls-ladder copy / ffmpeg copy: {hl / ff:.2f} (target at most 0.95); "
              f"/ Go worker's shape: {hl / go:.2f} (target at most 0.5); "
              f"ORIGINAL only, copy / encode: {one:.3f} (expected well under 0.1)."]
    if len(runs["hls-ladder copy"]) > 1:
        lines += ["", "The tables show the first round. "
                  + pairs_line("hls-ladder copy / ffmpeg copy", runs["hls-ladder copy"], runs["ffmpeg copy"]) + " "
                  + pairs_line("hls-ladder copy / Go worker's shape", runs["hls-ladder copy"],
                               runs["ffmpeg encode (Go worker's shape)"])]
    lines += ["",
              "| rung | hls-ladder copy PSNR Y dB | kbps | ffmpeg copy PSNR Y dB | kbps |",
              "|---|---:|---:|---:|---:|"]
    for r in ladder:
        w, h, label = r["encoded_width"], r["encoded_height"], r["label"]
        cells = []
        for tool, playlist in [("hls-ladder", hls_ladder_playlist(p / "hls-ladder", label)),
                               ("ffmpeg", p / "ffmpeg" / label / "index.m3u8")]:
            kbps, _ = playlist_rate(playlist)
            y, _, _ = psnr(playlist, a.source, w, h, p / f"psnr-{tool}-{label}.log")
            cells.append(f"{y:.2f} | {kbps:.0f}")
        lines.append(f"| {label} | {' | '.join(cells)} |")
    lines += ["", "Latency of the ORIGINAL-only job, last source frame of a group to its playlists "
              "written (real-time pace):", "",
              "| ORIGINAL | groups | median s | p95 s |", "|---|---:|---:|---:|"]
    for mode in ("encode", "copy"):
        values = latency(p / f"latency-{mode}.jsonl")
        lines.append(f"| {mode} | {len(values)} | {statistics.median(values):.3f} | {percentile(values, 95):.3f} |")
    lines += ["", "Commands:", "", "```sh"]
    lines += [(p / f"{n}.cmd").read_text().strip() for n in ("hls-ladder", "ffmpeg", "go-shape", "original-copy", "original-encode")]
    lines += ["```", ""]
    report = "\n".join(lines)
    (p / "report.md").write_text(report)
    print(report)


def stored_bytes(root):
    """Bytes stored per rendition directory of the one stream under root/hls, split into
    segments (.ts/.m4s), init segments (.mp4) and playlists (.m3u8), and the stream's masters."""
    streams = [d for d in (root / "hls").glob("*/*") if d.is_dir()]
    if len(streams) != 1:
        die(f"expected one stream under {root}/hls, found {streams}")
    out = {}
    for f in streams[0].rglob("*"):
        if not f.is_file():
            continue
        rendition = f.parent.name if f.parent != streams[0] else "(masters)"
        kind = {".ts": "segments", ".m4s": "segments", ".mp4": "init", ".m3u8": "playlists"}.get(f.suffix)
        if kind is None:
            continue
        row = out.setdefault(rendition, {"segments": 0, "init": 0, "playlists": 0})
        row[kind] += f.stat().st_size
    return out


def cmd_formats(a):
    """Report of the BENCH_CMAF=1 runs: bytes stored and CPU, ts against cmaf."""
    d = a.dir / "cmaf"
    ts, cmaf = stored_bytes(d / "ts"), stored_bytes(d / "cmaf")
    t_ts, t_cmaf = read_times(d, "ts"), read_times(d, "cmaf")
    total = lambda rows: sum(sum(r.values()) for r in rows.values())
    mb = lambda b: f"{b / 1e6:.3f}"
    lines = [f"# Segment formats: ts against cmaf ({a.seconds} s of media, default ladder with audio)", "",
             "| rendition | ts segments MB | ts playlists MB | cmaf segments MB | cmaf init MB | cmaf playlists MB |",
             "|---|---|---|---|---|---|"]
    for name in sorted(set(ts) | set(cmaf)):
        t = ts.get(name, {"segments": 0, "init": 0, "playlists": 0})
        c = cmaf.get(name, {"segments": 0, "init": 0, "playlists": 0})
        lines.append(f"| {name} | {mb(t['segments'])} | {mb(t['playlists'])} | {mb(c['segments'])} | "
                     f"{mb(c['init'])} | {mb(c['playlists'])} |")
    ratio = total(cmaf) / total(ts)
    lines += ["", f"| total MB | ts {mb(total(ts))} | cmaf {mb(total(cmaf))} | cmaf / ts {ratio:.3f} |",
              "|---|---|---|---|", ""]
    cpu = [c["cpu"] / t["cpu"] for t, c in zip(t_ts, t_cmaf)]
    lines.append("| CPU s | " + " / ".join(f"ts {t['cpu']:.1f}, cmaf {c['cpu']:.1f}" for t, c in zip(t_ts, t_cmaf))
                 + " |")
    lines += ["|---|---|", "",
              f"CPU cmaf / ts, {len(cpu)} rounds: " + " / ".join(f"{r:.3f}" for r in cpu)
              + f"; median {statistics.median(cpu):.3f}.", ""]
    text = "\n".join(lines)
    (d / "report.md").write_text(text)
    print(text)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("rungs")
    r.add_argument("ladder")
    r.set_defaults(func=cmd_rungs)
    g = sub.add_parser("graph")
    g.add_argument("ladder")
    g.add_argument("mode", choices=["direct", "cascade"])
    g.add_argument("--skip-original", action="store_true")
    g.set_defaults(func=cmd_graph)
    fl = sub.add_parser("floor")
    fl.add_argument("ladder")
    fl.set_defaults(func=cmd_floor)
    rep = sub.add_parser("report")
    rep.add_argument("--dir", type=Path, required=True)
    rep.add_argument("--source", type=Path, required=True)
    rep.add_argument("--seconds", type=int, required=True)
    rep.add_argument("--audio-mode", required=True)
    rep.add_argument("--scale-mode", required=True)
    rep.add_argument("--threads", required=True)
    rep.set_defaults(func=cmd_report)
    st = sub.add_parser("stamp")
    st.set_defaults(func=cmd_stamp)
    pt = sub.add_parser("passthrough")
    pt.add_argument("--dir", type=Path, required=True)
    pt.add_argument("--source", type=Path, required=True)
    pt.add_argument("--seconds", type=int, required=True)
    pt.set_defaults(func=cmd_passthrough)
    fm = sub.add_parser("formats")
    fm.add_argument("--dir", type=Path, required=True)
    fm.add_argument("--seconds", type=int, required=True)
    fm.add_argument("--pairs", type=int, required=True)
    fm.set_defaults(func=cmd_formats)
    args = p.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
