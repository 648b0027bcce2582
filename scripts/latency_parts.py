#!/usr/bin/env python3
"""How long after a frame enters the pipeline the origin serves the part (or segment) holding it.

    latency_parts.py --master URL --seconds N [--warmup W] [--out FILE.json]

Follows every media playlist of the master (the video renditions and the audio rendition) as a
player does, one thread each:
- LL-HLS (EXT-X-PART-INF and CAN-BLOCK-RELOAD=YES): a blocking reload for the part after the
  last one listed (`_HLS_msn=M&_HLS_part=P`), again as soon as it is answered;
- a playlist of whole segments: a plain reload every 100 ms.
For each part (or segment) newly listed in an answer, its delay is the answer's arrival time
minus the moment its last frame entered the pipeline: the PROGRAM-DATE-TIME of its segment (the
wall clock at which the segment's first frame entered) plus the durations of the segment's
parts up to and including this one (or the segment's EXTINF). Parts listed in the first answer
of each playlist, and those of the warm-up, are not counted: they were written before anyone
watched. The origin and this client share the machine's clock.

Prints one JSON object: median, p95 and max delay in seconds, the count, the drift (the delay
of the last counted part minus that of the first: a worker that does not keep up with real time
shows a growing delay), and the same per rendition.
"""
import argparse
import datetime
import http.client
import json
import statistics
import sys
import threading
import time
import urllib.parse


def parse_time(value):
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def attributes(line):
    """The attribute list of a tag line, as a dict (quoted values unquoted)."""
    out, rest = {}, line.split(":", 1)[1] if ":" in line else ""
    while rest:
        key, _, rest = rest.partition("=")
        if rest.startswith('"'):
            value, _, rest = rest[1:].partition('"')
            rest = rest.lstrip(",")
        else:
            value, _, rest = rest.partition(",")
        out[key.strip()] = value
    return out


def parse_playlist(text):
    """A media playlist: its low-latency flags and every part and segment with the time its
    last frame entered the pipeline ("ready"), keyed (msn, part index) and (msn, None)."""
    low_latency = "#EXT-X-PART-INF:" in text and "CAN-BLOCK-RELOAD=YES" in text
    items, msn, seg_start, offset, index, extinf = {}, 0, None, 0.0, 0, None
    last_part = None
    for line in map(str.strip, text.splitlines()):
        if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            msn = int(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            seg_start = parse_time(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-PART:"):
            offset += float(attributes(line)["DURATION"])
            if seg_start is not None:
                items[(msn, index)] = seg_start + offset
            last_part = (msn, index)
            index += 1
        elif line.startswith("#EXTINF:"):
            extinf = float(line.split(":", 1)[1].split(",")[0])
        elif line and not line.startswith("#") and extinf is not None:
            if seg_start is not None:
                items[(msn, None)] = seg_start + extinf
                seg_start += extinf  # the next segment's, unless it carries its own
            msn, offset, index, extinf = msn + 1, 0.0, 0, None
    # The part to ask for next: the one after the last listed, the first of the segment being
    # made when the last listed part ended a complete segment.
    if last_part is None or last_part[0] < msn:
        following = (msn, 0)
    else:
        following = (last_part[0], last_part[1] + 1)
    return low_latency, items, following


class Follower(threading.Thread):
    def __init__(self, url, warmup_end, end):
        super().__init__(daemon=True)
        self.url = urllib.parse.urlsplit(url)
        self.warmup_end, self.end = warmup_end, end
        self.delays, self.kind, self.errors = [], None, []
        self.conn = None

    def get(self, query=""):
        path = self.url.path + (f"?{query}" if query else "")
        for attempt in range(3):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.url.netloc, timeout=30)
                self.conn.request("GET", path)
                response = self.conn.getresponse()
                body = response.read()
                return response.status, body.decode(), time.time()
            except (OSError, http.client.HTTPException) as e:
                self.conn = None
                if attempt == 2:
                    raise RuntimeError(f"{path}: {e}") from e
        raise AssertionError("unreachable")

    def run(self):
        try:
            self.follow()
        except Exception as e:  # reported with the results, the other renditions go on
            self.errors.append(str(e))

    def follow(self):
        status, text, _ = self.get()
        if status != 200:
            raise RuntimeError(f"{self.url.path}: HTTP {status}")
        low_latency, seen, following = parse_playlist(text)
        self.kind = "parts" if low_latency else "segments"
        seen = set(seen)
        while time.time() < self.end:
            if low_latency:
                query = f"_HLS_msn={following[0]}&_HLS_part={following[1]}"
                status, text, arrived = self.get(query)
                if status in (400, 503):
                    # Fell behind a window or waited too long: start again from a plain reload.
                    status, text, arrived = self.get()
            else:
                time.sleep(0.1)
                status, text, arrived = self.get()
            if status != 200:
                raise RuntimeError(f"{self.url.path}: HTTP {status}")
            _, items, following = parse_playlist(text)
            wanted = (lambda k: k[1] is not None) if low_latency else (lambda k: k[1] is None)
            for key, ready in items.items():
                if key in seen:
                    continue
                seen.add(key)
                if wanted(key) and arrived >= self.warmup_end:
                    self.delays.append((ready, arrived - ready))


def media_playlists(master_url):
    url = urllib.parse.urlsplit(master_url)
    conn = http.client.HTTPConnection(url.netloc, timeout=30)
    conn.request("GET", url.path)
    text = conn.getresponse().read().decode()
    uris = []
    for line in map(str.strip, text.splitlines()):
        if line.startswith("#EXT-X-MEDIA:") and "URI" in attributes(line):
            uris.append(attributes(line)["URI"])
        elif line and not line.startswith("#"):
            uris.append(line)
    return [urllib.parse.urljoin(master_url, u) for u in dict.fromkeys(uris)]


def summary(timed):
    """timed: (ready, delay) pairs."""
    if not timed:
        return {"count": 0}
    ordered = sorted(d for _, d in timed)
    by_time = sorted(timed)
    return {
        "count": len(ordered),
        "median_s": round(statistics.median(ordered), 3),
        "p95_s": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 3),
        "max_s": round(ordered[-1], 3),
        "drift_s": round(by_time[-1][1] - by_time[0][1], 3),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--master", required=True, help="URL of the stream's master playlist")
    parser.add_argument("--seconds", type=float, required=True, help="how long to measure")
    parser.add_argument("--warmup", type=float, default=0, help="seconds to follow before counting")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args()

    start = time.time()
    followers = [
        Follower(url, start + args.warmup, start + args.warmup + args.seconds) for url in media_playlists(args.master)
    ]
    for f in followers:
        f.start()
    for f in followers:
        # Each ends at its deadline, plus at most one held request (3 target durations).
        f.join(args.warmup + args.seconds + 60)
    renditions = {
        urllib.parse.urlsplit(f.url.geturl()).path: {"kind": f.kind, **summary(f.delays), "errors": f.errors}
        for f in followers
    }
    kinds = {f.kind for f in followers if f.kind}
    result = {
        "kind": kinds.pop() if len(kinds) == 1 else sorted(kinds),
        **summary([d for f in followers for d in f.delays]),
        "renditions": renditions,
    }
    line = json.dumps(result)
    print(line)
    if args.out:
        with open(args.out, "w") as out:
            out.write(line + "\n")
    if any(f.errors for f in followers) or not result["count"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
