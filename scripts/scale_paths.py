#!/usr/bin/env python3
"""What each way of scaling the small rungs costs and gives (issue 9, "quality of the small
rungs"). A measurement, not a test: it prints a table and never judges the numbers.

  scripts/scale_paths.py [--source SRC] [--dir DIR] [--repeat N]

For every rung of the default ladder below the 1280x720 source, every path it could be scaled
from (the decoded source; the next larger rung, as a cascade; the nearest rung at least twice
as large in both dimensions) and every swscale filter (bicubic, area, lanczos, bilinear):

- cost: single-threaded libswscale CPU per frame, from ffmpeg -benchmark over raw pictures of
  the input size held in /dev/shm, minus the same run without scaling, best of N runs. The
  cascaded inputs are the parent rung scaled with bicubic. This is the library and the call
  hls-ladder's FitScaler makes (sws_scale, yuv420p to yuv420p, no other flags).
- quality: the rung encoded as hls-ladder encodes it (libx264 veryfast CRF 23 with the rung's
  VBV cap, one thread, keyframes every 3 s), then PSNR Y against the source scaled to the rung
  by bicubic (the benchmark's reference: ffmpeg's direct bicubic scaling) and by lanczos (a
  reference that does not favour bicubic), and the bit rate.

The source is the benchmark's (scripts/bench.sh makes it): 720p30 testsrc2, H.264 CRF 18.
Standard library only; needs ffmpeg. Writes DIR/report.md.
"""

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SOURCE = (1280, 720)
# The default ladder's rungs below the source (profiles/default.toml) and their caps.
RUNGS = [((854, 480), 1400), ((640, 360), 800), ((426, 240), 400)]
FILTERS = ["bicubic", "area", "lanczos", "bilinear"]
RATE = 30


def die(msg):
    sys.exit(f"scale_paths: {msg}")


def run(cmd):
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        die(f"failed: {' '.join(map(str, cmd))}\n{done.stderr[-2000:]}")
    return done.stderr


def paths_for(size):
    """Every input a rung could be scaled from: (name, input size)."""
    w, h = size
    larger = [s for (s, _) in RUNGS if s[0] > w and s[1] > h]
    out = [("source", SOURCE)]
    if larger:
        nearest = min(larger, key=lambda s: s[0] * s[1])
        out.append((f"cascade from {nearest[0]}x{nearest[1]}", nearest))
    twice = [s for s in [SOURCE, *larger] if s[0] >= 2 * w - 2 and s[1] >= 2 * h]
    if twice:
        t = min(twice, key=lambda s: s[0] * s[1])
        if t != SOURCE and (not larger or t != min(larger, key=lambda s: s[0] * s[1])):
            out.append((f"2x cascade from {t[0]}x{t[1]}", t))
    return out


def raw_input(shm, source, size):
    """The source decoded (and for a cascade, scaled with bicubic) to raw yuv420p."""
    path = shm / f"in-{size[0]}x{size[1]}.yuv"
    if not path.exists():
        vf = [] if size == SOURCE else ["-vf", f"scale={size[0]}:{size[1]}:flags=bicubic"]
        run(["ffmpeg", "-hide_banner", "-nostdin", "-y", "-i", str(source), *vf,
             "-pix_fmt", "yuv420p", "-f", "rawvideo", str(path)])
    return path


def utime(raw, size, vf):
    cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-benchmark", "-threads", "1", "-filter_threads", "1",
           "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{size[0]}x{size[1]}", "-r", str(RATE),
           "-i", str(raw), *vf, "-f", "null", "-"]
    found = re.search(r"utime=([\d.]+)s", run(cmd))
    if not found:
        die(f"no -benchmark line from {' '.join(map(str, cmd))}")
    return float(found.group(1))


def scale_cost_ms(raw, size, out, flt, repeat, frames):
    best = min(utime(raw, size, ["-vf", f"scale={out[0]}:{out[1]}:flags={flt}"]) for _ in range(repeat))
    base = min(utime(raw, size, []) for _ in range(repeat))
    return max(best - base, 0.0) * 1000 / frames


def encode(source, chain, cap, path):
    run(["ffmpeg", "-hide_banner", "-nostdin", "-y", "-i", str(source), "-an", "-vf", chain,
         "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-maxrate", f"{cap}k",
         "-bufsize", f"{2 * cap}k", "-threads", "1", "-g", "900", "-x264-params", "scenecut=0:open-gop=0",
         "-force_key_frames", "expr:gte(t,n_forced*3)", str(path)])


def psnr_y(encoded, source, size, flt):
    graph = (f"[1:v]scale={size[0]}:{size[1]}:flags={flt}[ref];[0:v][ref]psnr")
    err = run(["ffmpeg", "-hide_banner", "-nostdin", "-i", str(encoded), "-i", str(source),
               "-lavfi", graph, "-f", "null", "-"])
    found = re.search(r"PSNR y:([\d.]+)", err)
    if not found:
        die(f"no PSNR for {encoded}")
    return float(found.group(1))


def kbps(path, seconds):
    return path.stat().st_size * 8 / seconds / 1000


def check_size(source):
    """The rungs and paths measured are the 720p default ladder's: the source must be 720p."""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "stream=width,height", "-of", "csv=p=0", str(source)], capture_output=True, text=True)
    found = re.match(r"(\d+),(\d+)", out.stdout.strip())
    size = (int(found.group(1)), int(found.group(2))) if found else None
    if size != SOURCE:
        die(f"{source} is {size}, not {SOURCE[0]}x{SOURCE[1]} (the default ladder's 720p source)")


def frame_count(source):
    err = run(["ffmpeg", "-hide_banner", "-nostdin", "-i", str(source), "-map", "0:v", "-f", "null", "-"])
    return int(re.findall(r"frame=\s*(\d+)", err)[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", type=Path, default=Path("target/bench/src-720p30-20s.mp4"))
    p.add_argument("--dir", type=Path, default=Path("target/bench/scale-paths"))
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()
    if not a.source.is_file():
        die(f"no {a.source}: run BENCH_SECONDS=20 scripts/bench.sh first (it makes the source)")
    a.dir.mkdir(parents=True, exist_ok=True)
    check_size(a.source)
    shm = Path(tempfile.mkdtemp(prefix="hls-ladder-scale-paths-", dir="/dev/shm"))
    frames = frame_count(a.source)
    seconds = frames / RATE
    rows = []
    try:
        for out, cap in RUNGS:
            for name, size in paths_for(out):
                raw = raw_input(shm, a.source, size)
                pre = "" if size == SOURCE else f"scale={size[0]}:{size[1]}:flags=bicubic,"
                for flt in FILTERS:
                    label = f"{out[0]}x{out[1]} {name} {flt}"
                    print(f"== {label}", file=sys.stderr)
                    cost = scale_cost_ms(raw, size, out, flt, a.repeat, frames)
                    enc = a.dir / f"{out[0]}x{out[1]}-{size[0]}x{size[1]}-{flt}.mp4"
                    encode(a.source, f"{pre}scale={out[0]}:{out[1]}:flags={flt}", cap, enc)
                    rows.append((f"{out[0]}x{out[1]}~{cap}", name, flt, cost, cost * RATE / 1000,
                                 psnr_y(enc, a.source, out, "bicubic"), psnr_y(enc, a.source, out, "lanczos"),
                                 kbps(enc, seconds)))
    finally:
        shutil.rmtree(shm)
    lines = [f"Scaling paths, {a.source} ({frames} frames), best of {a.repeat} runs for the cost.", "",
             "| rung | scaled from | filter | ms per frame | CPU s per media s | PSNR Y vs bicubic ref | "
             "PSNR Y vs lanczos ref | kbps |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append("| %s | %s | %s | %.3f | %.4f | %.2f | %.2f | %.0f |" % r)
    report = "\n".join(lines)
    (a.dir / "report.md").write_text(report + "\n")
    print(report)


if __name__ == "__main__":
    main()
