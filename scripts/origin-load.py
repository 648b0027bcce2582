#!/usr/bin/env python3
"""Many LL-HLS viewers blocked on one playlist of a running `hls-ladder serve`: the origin's cost.

    origin-load.py --url http://127.0.0.1:PORT/hls/CH/ID/RUNG/live.m3u8 --pid PID --clients 500
                   [--follow SECONDS] [--timeout SECONDS]

Opens CLIENTS keep-alive HTTP/1.1 connections (raw sockets, asyncio: no client library
retries or pools), each sending `live.m3u8?_HLS_msn=M&_HLS_part=P` for a part one segment
beyond the playlist's newest (so every request is held about one target duration), waits
until the origin reports them all waiting (`/api/origin`), and reads the answers. An answer
is correct when it is a 200 whose playlist lists that part (or a later segment). With
`--follow S`, every client then keeps following the live edge for S seconds, as a player
does: each answer's next part is its next request, on the same connection.

The serve process (PID) is sampled from /proc: resident memory (VmRSS, and its peak VmHWM)
and CPU time (utime + stime) before, while the requests are held, and after. `transcode
--serve` serves from the transcoding process itself, so its CPU includes the encoding; run
`hls-ladder serve OUT` as a process of its own in front of the same directory to measure the
origin alone.

Prints one JSON line; exits 1 when a request was not answered correctly.
"""

import argparse
import asyncio
import json
import os
import sys
import time
import urllib.parse

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def proc_sample(pid):
    """(VmRSS kB, VmHWM kB, CPU seconds) of `pid`, or None when it is not readable."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/status") as f:
            status = dict(line.split(":", 1) for line in f if ":" in line)
        with open(f"/proc/{pid}/stat") as f:
            # Fields after the command name (which may hold spaces), from field 3 on.
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    kb = lambda key: int(status[key].split()[0])
    if "VmRSS" not in status:
        return None  # a zombie
    utime, stime = int(fields[11]), int(fields[12])
    return {"rss_kb": kb("VmRSS"), "hwm_kb": kb("VmHWM"), "cpu_s": (utime + stime) / CLOCK_TICKS}


def next_part(playlist):
    """The first part the playlist does not list yet: (media sequence, part index)."""
    msn, segments, trailing, in_segment = 0, 0, 0, False
    for line in playlist.splitlines():
        line = line.strip()
        if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            msn = int(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-PART:"):
            trailing += 1
        elif line.startswith("#EXTINF"):
            in_segment = True
        elif line and not line.startswith("#") and in_segment:
            segments, trailing, in_segment = segments + 1, 0, False
    return msn + segments, trailing


def lists(playlist, msn, part):
    """Whether the playlist lists part `part` of segment `msn`, or a later segment."""
    if "#EXT-X-ENDLIST" in playlist:
        return True
    next_msn, trailing = next_part(playlist)
    return msn < next_msn or (msn == next_msn and part < trailing)


async def read_response(reader):
    """(status, body bytes) of one HTTP/1.1 response; Content-Length or chunked."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:] if ":" in l)}
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            body += await reader.readexactly(size + 2)
            if size == 0:
                break
        body = body[:-2]
    else:
        body = await reader.read()
    return status, body


class Client:
    def __init__(self, host, port, path):
        self.host, self.port, self.path = host, port, path
        self.reader = self.writer = None

    async def connect(self):
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def send(self, msn, part):
        target = f"{self.path}?_HLS_msn={msn}&_HLS_part={part}"
        self.writer.write(f"GET {target} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode())
        await self.writer.drain()

    def close(self):
        if self.writer is not None:
            self.writer.close()


async def get(host, port, target):
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    status, body = await read_response(reader)
    writer.close()
    return status, body


def percentiles(values):
    if not values:
        return None
    values = sorted(values)
    pick = lambda q: round(values[min(len(values) - 1, int(q * len(values)))], 1)
    return {"p50": pick(0.5), "p99": pick(0.99), "max": round(values[-1], 1)}


async def run(args):
    url = urllib.parse.urlsplit(args.url)
    host, port, path = url.hostname, url.port or 80, url.path
    result = {"clients": args.clients, "url": args.url, "pid": args.pid}
    if args.pid is not None:
        # The name shows a wrong PID at once (a shell that started the server, not the server).
        with open(f"/proc/{args.pid}/comm") as f:
            result["process"] = f.read().strip()
    try:
        status, body = await get(host, port, path)
    except OSError as e:
        raise SystemExit(f"{args.url}: {e}; is `hls-ladder serve` (or `transcode --serve`) running there?")
    if status != 200:
        raise SystemExit(f"GET {path}: HTTP {status}; is the stream live and the URL a rendition's live.m3u8?")
    playlist = body.decode()
    if "#EXT-X-PART-INF" not in playlist:
        raise SystemExit(f"{path} has no EXT-X-PART-INF: parts are off (transcode --part-seconds), nothing blocks")
    msn, part = next_part(playlist)
    # One segment beyond the newest part: held about a target duration, long enough for every
    # client to connect and for the origin to be sampled while they all wait.
    msn += 1
    result["asked"] = {"msn": msn, "part": part}

    before = proc_sample(args.pid)
    clients = [Client(host, port, path) for _ in range(args.clients)]
    started = time.monotonic()
    await asyncio.gather(*(c.connect() for c in clients))
    await asyncio.gather(*(c.send(msn, part) for c in clients))
    sent = time.monotonic()

    async def answer(c):
        response = await read_response(c.reader)
        return response, time.monotonic()

    answers = [asyncio.ensure_future(answer(c)) for c in clients]

    # Held: the origin says how many wait; sample it once they all do (or answers begin).
    waiting = 0
    while time.monotonic() - sent < args.timeout and not any(a.done() for a in answers):
        _, origin = await get(host, port, "/api/origin")
        waiting = json.loads(origin)["waiters"]
        if waiting >= args.clients:
            break
        await asyncio.sleep(0.05)
    held = proc_sample(args.pid)
    result["waiting_seen"] = waiting
    result["connect_and_send_ms"] = round((sent - started) * 1000, 1)

    done, pending = await asyncio.wait(answers, timeout=args.timeout)
    times = []
    correct, statuses = 0, {}
    for c, a in zip(clients, answers):
        if a not in done or a.exception() is not None:
            statuses["no answer"] = statuses.get("no answer", 0) + 1
            continue
        (code, body), at = a.result()
        times.append(at)
        statuses[str(code)] = statuses.get(str(code), 0) + 1
        text = body.decode(errors="replace")
        if code == 200 and lists(text, msn, part):
            correct += 1
            c.last = text
    for a in pending:
        a.cancel()
    after = proc_sample(args.pid)
    result.update({"answered": len(done), "correct": correct, "statuses": statuses})
    if times:
        # All wait for the same part: how long the origin takes to release them all, from the
        # first answer read to the last.
        result["held_ms"] = round((min(times) - sent) * 1000, 1)
        result["release_spread_ms"] = percentiles([(t - min(times)) * 1000 for t in times])

    if before and held and after:
        result["memory_kb"] = {"before": before["rss_kb"], "held": held["rss_kb"], "after": after["rss_kb"],
                               "peak": after["hwm_kb"]}
        result["cpu_s"] = {"connect_and_hold": round(held["cpu_s"] - before["cpu_s"], 3),
                           "answer": round(after["cpu_s"] - held["cpu_s"], 3)}

    if args.follow > 0 and correct == args.clients:
        result["follow"] = await follow(args, clients)
    for c in clients:
        c.close()
    return result


async def follow(args, clients):
    """Every client follows the live edge for `args.follow` seconds: the next part after each
    answer, on the same connection. Reports answers per second, their correctness and the
    origin's CPU share over the period."""
    deadline = time.monotonic() + args.follow
    counts = {"answered": 0, "correct": 0, "errors": 0}
    lateness = []
    kinds = {}

    async def one(c):
        text = c.last
        while time.monotonic() < deadline:
            msn, part = next_part(text)
            asked = time.monotonic()
            try:
                await c.send(msn, part)
                code, body = await asyncio.wait_for(read_response(c.reader), args.timeout)
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as e:
                counts["errors"] += 1
                kinds[type(e).__name__] = kinds.get(type(e).__name__, 0) + 1
                return
            counts["answered"] += 1
            text = body.decode(errors="replace")
            if code == 200 and lists(text, msn, part):
                counts["correct"] += 1
            else:
                counts["errors"] += 1
                kinds[f"HTTP {code}"] = kinds.get(f"HTTP {code}", 0) + 1
                return
            lateness.append((time.monotonic() - asked) * 1000)

    before = proc_sample(args.pid)
    started = time.monotonic()
    await asyncio.gather(*(one(c) for c in clients))
    elapsed = time.monotonic() - started
    after = proc_sample(args.pid)
    out = dict(counts, seconds=round(elapsed, 2), answers_per_s=round(counts["answered"] / elapsed, 1),
               held_ms=percentiles(lateness), error_kinds=kinds)
    if before and after:
        out["cpu_percent"] = round(100 * (after["cpu_s"] - before["cpu_s"]) / elapsed, 1)
        out["rss_kb"] = after["rss_kb"]
        out["peak_kb"] = after["hwm_kb"]
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="a rendition's live.m3u8 on the origin")
    parser.add_argument("--pid", type=int, help="the process serving it (for memory and CPU)")
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--follow", type=float, default=0, help="then follow the live edge this many seconds")
    parser.add_argument("--timeout", type=float, default=20, help="longest wait for an answer (s)")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(json.dumps(result), flush=True)
    ok = result["correct"] == args.clients and result.get("follow", {}).get("errors", 0) == 0
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
