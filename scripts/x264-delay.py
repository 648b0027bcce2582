#!/usr/bin/env python3
"""Encoder delay, PSNR and bitrate of libx264 settings for LL-HLS (issue 19).

Usage: x264-delay.py WORKDIR [NAME ...]
       x264-delay.py --bd WORKDIR a NAME ...   (uncapped CRF sweep + BD-rate vs "a")
WORKDIR must hold src720.y4m and src360.y4m, 24 s of 720p30 with grain in three scenes and
the same scaled to 640x360 (results: docs/ll-hls.md, section "Encoder delay"):

  ffmpeg -y \
   -f lavfi -i "mandelbrot=s=1280x720:r=30:maxiter=256,trim=duration=8,format=yuv420p,noise=alls=6:allf=t,setpts=PTS-STARTPTS" \
   -f lavfi -i "testsrc2=s=1920x1080:r=30,trim=duration=8,crop=1280:720:x='320+320*sin(2*PI*t/8)':y='180+180*sin(2*PI*t/5)',format=yuv420p,noise=alls=6:allf=t,setpts=PTS-STARTPTS" \
   -f lavfi -i "gradients=s=1280x720:r=30:speed=0.03:nb_colors=5,trim=duration=8" \
   -f lavfi -i "testsrc2=s=640x480:r=30,trim=duration=8" \
   -filter_complex "[3:v]format=yuva420p,rotate=a=0.4*t:c=none:ow=hypot(iw\,ih):oh=ow[o];[2:v][o]overlay=x='320+200*sin(t)':y='60+40*cos(1.3*t)',format=yuv420p,noise=alls=6:allf=t,setpts=PTS-STARTPTS[s3];[0:v][1:v][s3]concat=n=3:v=1:a=0,setsar=1[v]" \
   -map "[v]" -r 30 WORKDIR/src720.y4m
  ffmpeg -y -i WORKDIR/src720.y4m -vf scale=640:360 WORKDIR/src360.y4m

Prints one tab-separated line per (config, height). Configs are listed in
CONFIGS; NAME arguments restrict the run to those names.

Delay is measured, not computed: ffmpeg -debug_ts logs every frame sent to the encoder
("encoder <-") and every packet it returns ("encoder ->"). "held" is the number of frames
sent before the first packet came back, minus one (a zero-delay encoder returns a packet
for each frame it is given). "lat_max" is, over the whole run, the largest number of
frames sent after a frame before that frame's own packet came back (with B-frames the
B pictures come back later than the first packet, so this is what a part writer waits).
"""
import math
import os
import re
import subprocess
import sys

FPS = 30
SECONDS = 24
# Rendition caps of the default profile (profiles/default.toml): maxrate, bufsize = 2 x.
RUNGS = {720: 2800, 360: 800}
BASE_PARAMS = "scenecut=0:open-gop=0:force-cfr=1"

# name -> (extra x264-params appended to ours, extra ffmpeg options, threads)
CONFIGS = {
    "a":          ("", [], 1),
    "a-t2":       ("", [], 2),
    "a-t4":       ("", [], 4),
    "a-t2-slice": ("sliced-threads=1", [], 2),
    "a-t2-sync0": ("sync-lookahead=0", [], 2),
    "b-la5":      ("rc-lookahead=5:sync-lookahead=0", [], 1),
    "b-la3":      ("rc-lookahead=3:sync-lookahead=0", [], 1),
    "c-la10-nomb": ("mbtree=0:sync-lookahead=0", [], 1),
    "c-la5-nomb": ("rc-lookahead=5:sync-lookahead=0:mbtree=0", [], 1),
    "c-la3-nomb": ("rc-lookahead=3:sync-lookahead=0:mbtree=0", [], 1),
    "d-la5-b1":   ("rc-lookahead=5:sync-lookahead=0:bframes=1", [], 1),
    "d-la3-b1":   ("rc-lookahead=3:sync-lookahead=0:bframes=1", [], 1),
    "d-la5-b0":   ("rc-lookahead=5:sync-lookahead=0:bframes=0", [], 1),
    "d-la0-b0":   ("rc-lookahead=0:sync-lookahead=0:bframes=0:mbtree=0", [], 1),
    "e-zerolat":  ("", ["-tune", "zerolatency"], 1),
    "e-zerolat-t2": ("", ["-tune", "zerolatency"], 2),
    "b-la5-t2-slice": ("rc-lookahead=5:sync-lookahead=0:sliced-threads=1", [], 2),
    "b-la5-t2":   ("rc-lookahead=5:sync-lookahead=0", [], 2),
    "d-la5-b1-t2-slice": ("rc-lookahead=5:sync-lookahead=0:bframes=1:sliced-threads=1", [], 2),
}

ENC_RE = re.compile(r"^encoder (<-|->) type:video (?:frame_pts|pkt_pts):(-?\d+)")
PSNR_RE = re.compile(r"PSNR y:([\d.]+) u:([\d.]+) v:([\d.]+) average:([\d.]+)")


def ffmpeg_cmd(work, name, height, crf=23, capped=True):
    extra_params, extra_opts, threads = CONFIGS[name]
    kbps = RUNGS[height]
    params = BASE_PARAMS + (":" + extra_params if extra_params else "")
    # Raw Annex B: one "encoder ->" log line per packet (a muxer with another time base
    # makes ffmpeg 5.1 log each packet twice) and the file size is the video bitrate.
    out = os.path.join(work, f"{name}-{height}" + ("" if capped else f"-crf{crf}-uncapped") + ".264")
    cap = ["-maxrate", f"{kbps}k", "-bufsize", f"{kbps * 2}k"] if capped else []
    cmd = ["ffmpeg", "-hide_banner", "-nostats", "-debug_ts", "-y",
           "-i", os.path.join(work, f"src{height}.y4m"),
           "-c:v", "libx264", "-preset", "veryfast", *extra_opts, "-crf", str(crf),
           "-forced-idr", "1", "-x264-params", params, "-threads", str(threads), *cap,
           # open_encoder: GOP = 10 segments + 10 frames; IDRs forced every hls_time (2 s).
           "-g", str(2 * FPS * 10 + 10), "-force_key_frames", "expr:gte(t,n_forced*2)",
           "-f", "h264", out]
    return cmd, out


def encode(work, name, height):
    cmd, out = ffmpeg_cmd(work, name, height)
    log = subprocess.run(cmd, capture_output=True, text=True, check=True).stderr
    sent, first_out, lat, packets = 0, None, [], 0
    for line in log.splitlines():
        m = ENC_RE.match(line)
        if not m:
            continue
        if m.group(1) == "<-":
            sent += 1
        else:
            packets += 1
            if first_out is None:
                first_out = sent
            # Flushing at the end returns packets with no new input: not steady state.
            if sent < SECONDS * FPS:
                lat.append(sent - 1 - int(m.group(2)))
    assert sent == packets == SECONDS * FPS, (sent, packets)
    return cmd, out, first_out - 1, max(lat), sum(lat) / len(lat)


def psnr(work, out, height):
    # Raw H.264 has no timestamps of its own: compare pictures by their order.
    cmd = ["ffmpeg", "-hide_banner", "-nostats", "-i", out, "-i", os.path.join(work, f"src{height}.y4m"),
           "-lavfi", "[0:v]setpts=N/30/TB[a];[1:v]setpts=N/30/TB[b];[a][b]psnr", "-f", "null", "-"]
    log = subprocess.run(cmd, capture_output=True, text=True, check=True).stderr
    m = PSNR_RE.search(log)
    return float(m.group(1)), float(m.group(4))


def kbps(out):
    return os.path.getsize(out) * 8 / SECONDS / 1000


def peak_kbps(out, window=FPS):
    """Largest bitrate over any 1 s of consecutive frames (decode order): VBV compliance."""
    sizes = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "packet=size", "-of", "csv=p=0", out],
                           capture_output=True, text=True, check=True).stdout.split()
    sizes = [int(s) for s in sizes]
    return max(sum(sizes[i:i + window]) for i in range(len(sizes) - window + 1)) * 8 / 1000


def x264_info(out):
    # x264 writes its effective settings into an SEI of the first frame.
    with open(out, "rb") as f:
        data = f.read(1 << 20)
    m = re.search(rb"x264 - core [^\x00]*", data)
    info = m.group(0).decode(errors="replace") if m else ""
    keys = ["threads", "sliced_threads", "bframes", "rc_lookahead", "mbtree", "vbv_maxrate"]
    found = dict(kv.split("=", 1) for kv in info.split() if "=" in kv)
    return " ".join(f"{k}={found.get(k, '?')}" for k in keys)


BD_CRFS = (20, 23, 26, 29)


def bd_rate(ref, test):
    """Bjontegaard delta rate (%): mean bitrate change at equal PSNR, from a cubic through
    the 4 (PSNR, log rate) points of each curve, over the PSNR range both cover."""
    def cubic(points):
        xs = [p for p, _ in points]
        ys = [math.log10(r) for _, r in points]

        def f(x):  # Lagrange form of the cubic through the 4 points
            total = 0.0
            for i, (xi, yi) in enumerate(zip(xs, ys)):
                term = yi
                for j, xj in enumerate(xs):
                    if j != i:
                        term *= (x - xj) / (xi - xj)
                total += term
            return total
        return f, min(xs), max(xs)

    (fr, lo_r, hi_r), (ft, lo_t, hi_t) = cubic(ref), cubic(test)
    lo, hi = max(lo_r, lo_t), min(hi_r, hi_t)
    n = 1000
    diff = sum(ft(lo + (hi - lo) * (k + 0.5) / n) - fr(lo + (hi - lo) * (k + 0.5) / n) for k in range(n)) / n
    return (10 ** diff - 1) * 100


def bd_main(work, names):
    """Uncapped CRF sweep (no maxrate, so the VBV cap does not flatten the curves)."""
    curves = {}
    print("config\theight\tcrf\tkbps\tpsnr_y", flush=True)
    for name in names:
        for height in (720, 360):
            points = []
            for crf in BD_CRFS:
                cmd, out = ffmpeg_cmd(work, name, height, crf, capped=False)
                cmd.remove("-debug_ts")
                subprocess.run(cmd, capture_output=True, text=True, check=True)
                y, _ = psnr(work, out, height)
                rate = kbps(out)
                os.remove(out)
                points.append((y, rate))
                print(f"{name}\t{height}\t{crf}\t{rate:.0f}\t{y:.3f}", flush=True)
            curves[(name, height)] = points
    for name in names:
        for height in (720, 360):
            ref = curves.get(("a", height))
            if ref and name != "a":
                print(f"BD-rate {name} {height}p vs a: {bd_rate(ref, curves[(name, height)]):+.1f} %", flush=True)


def main():
    if sys.argv[1] == "--bd":
        bd_main(sys.argv[2], sys.argv[3:])
        return
    work = sys.argv[1]
    names = sys.argv[2:] or list(CONFIGS)
    print("config\theight\theld\tlat_max\tlat_mean\tkbps\tpeak1s\tpsnr_y\tpsnr_avg\tx264", flush=True)
    for name in names:
        for height in (720, 360):
            cmd, out, held, lat_max, lat_mean = encode(work, name, height)
            y, avg = psnr(work, out, height)
            rate = kbps(out)
            print(f"{name}\t{height}\t{held}\t{lat_max}\t{lat_mean:.2f}\t{rate:.0f}\t{peak_kbps(out):.0f}\t{y:.3f}\t{avg:.3f}\t{x264_info(out)}",
                  flush=True)


if __name__ == "__main__":
    main()
