//! `hls-ladder serve DIR` as an LL-HLS origin (RFC 8216bis §6.2.5.2 blocking playlist reload,
//! §6.2.6 preload hints), run as a separate process in front of a directory that the test
//! writes the way a worker writes a rendition: each part appended in place to the segment
//! being made, then the playlist that lists it (as a byte range), replaced by rename. The
//! server learns of both from the files alone.

pub mod support;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::{sleep, JoinHandle};
use std::time::{Duration, Instant};

use support::http::{get, request, Reply};
use support::util::{bin, free_port};

/// A GET (with `headers`) on its own thread, with the time it was answered.
fn get_later(addr: SocketAddr, target: &str, headers: &[(&str, &str)]) -> JoinHandle<(Reply, Instant)> {
    let target = target.to_string();
    let headers: Vec<(String, String)> = headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    std::thread::spawn(move || {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let reply = request(addr, "GET", &target, &headers);
        (reply, Instant::now())
    })
}

fn get_range(addr: SocketAddr, target: &str, range: &str) -> Reply {
    request(addr, "GET", target, &[("Range", range)])
}

/// `hls-ladder serve` on a loopback port, killed when dropped.
struct Serve {
    child: Child,
    addr: SocketAddr,
}

impl Serve {
    fn start(root: &Path) -> Serve {
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let child = Command::new(bin())
            .arg("serve")
            .arg(root)
            .args(["--listen", &addr.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "serve did not listen on {addr}");
            sleep(Duration::from_millis(50));
        }
        Serve { child, addr }
    }

    /// `(watchers, waiters)` from `/api/origin`.
    fn origin(&self) -> (u64, u64) {
        let reply = get(self.addr, "/api/origin");
        let v: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        (v["watchers"].as_u64().unwrap(), v["waiters"].as_u64().unwrap())
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One rendition of an LL-HLS stream, written as the worker writes it: target duration 1 s,
/// five parts of 0.2 s that are byte ranges of the segment being made. Each part is written into
/// the segment file in place at its offset, then the playlist that lists it replaces the old
/// one (rename); a complete segment is written once more, whole, by rename.
struct Rendition {
    dir: PathBuf,
    /// Complete segments 0..segments.
    segments: u64,
    /// Parts of segment `segments` written so far.
    parts: u64,
}

impl Rendition {
    const PARTS_PER_SEGMENT: u64 = 5;

    fn new(dir: PathBuf) -> Rendition {
        std::fs::create_dir_all(&dir).unwrap();
        let mut r = Rendition { dir, segments: 0, parts: 0 };
        // Two complete segments and two parts of the third.
        for _ in 0..Rendition::PARTS_PER_SEGMENT * 2 + 2 {
            r.add_part();
        }
        r
    }

    /// Parts of different lengths, so that every offset is checked.
    fn part_bytes(msn: u64, part: u64) -> Vec<u8> {
        (0..20_000 + 1_000 * part as u32).map(|i| (i as u64 * 7 + msn * 13 + part) as u8).collect()
    }

    fn offset(msn: u64, part: u64) -> u64 {
        (0..part).map(|p| Rendition::part_bytes(msn, p).len() as u64).sum()
    }

    fn segment_bytes(msn: u64) -> Vec<u8> {
        (0..Rendition::PARTS_PER_SEGMENT).flat_map(|p| Rendition::part_bytes(msn, p)).collect()
    }

    fn write_atomically(&self, name: &str, bytes: &[u8]) {
        let tmp = self.dir.join(format!("{name}.tmp"));
        std::fs::write(&tmp, bytes).unwrap();
        std::fs::rename(tmp, self.dir.join(name)).unwrap();
    }

    /// Writes `bytes` of part `part` of segment `msn` into the segment file in place.
    fn write_in_place(&self, msn: u64, part: u64, bytes: &[u8]) {
        use std::os::unix::fs::FileExt as _;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join(format!("{msn}.m4s")))
            .unwrap();
        file.write_all_at(bytes, Rendition::offset(msn, part)).unwrap();
    }

    /// Writes the next part into its segment, then the playlist that lists it.
    fn add_part(&mut self) {
        let (msn, part) = (self.segments, self.parts);
        self.write_in_place(msn, part, &Rendition::part_bytes(msn, part));
        self.parts += 1;
        if self.parts == Rendition::PARTS_PER_SEGMENT {
            self.write_atomically(&format!("{msn}.m4s"), &Rendition::segment_bytes(msn));
            self.segments += 1;
            self.parts = 0;
        }
        self.write_atomically("live.m3u8", self.playlist().as_bytes());
    }

    fn next_part(&self) -> (u64, u64) {
        (self.segments, self.parts)
    }

    /// The preload hint: the segment file and the offset the next part will start at.
    fn hint(&self) -> (String, u64) {
        (format!("{}.m4s", self.segments), Rendition::offset(self.segments, self.parts))
    }

    fn playlist(&self) -> String {
        let mut text = String::from(
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n\
             #EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.6\n\
             #EXT-X-PART-INF:PART-TARGET=0.2\n#EXT-X-MAP:URI=\"init-0.mp4\"\n",
        );
        let parts = |text: &mut String, msn: u64, count: u64| {
            for p in 0..count {
                let (len, offset) = (Rendition::part_bytes(msn, p).len(), Rendition::offset(msn, p));
                let independent = if p == 0 { ",INDEPENDENT=YES" } else { "" };
                text.push_str(&format!(
                    "#EXT-X-PART:DURATION=0.2,URI=\"{msn}.m4s\",BYTERANGE=\"{len}@{offset}\"{independent}\n"
                ));
            }
        };
        for msn in 0..self.segments {
            parts(&mut text, msn, Rendition::PARTS_PER_SEGMENT);
            text.push_str(&format!("#EXTINF:1.0,\n{msn}.m4s\n"));
        }
        parts(&mut text, self.segments, self.parts);
        let (uri, start) = self.hint();
        text.push_str(&format!("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{uri}\",BYTERANGE-START={start}\n"));
        text
    }
}

fn root_with_rendition() -> (tempfile::TempDir, Rendition, &'static str) {
    let dir = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    let rendition = Rendition::new(root.join("hls/test/local/640x360-30"));
    (dir, rendition, "/hls/test/local/640x360-30")
}

#[test]
fn a_blocking_reload_is_answered_once_the_part_is_listed_and_far_ahead_is_a_bad_request() {
    let (dir, mut rendition, base) = root_with_rendition();
    let serve = Serve::start(dir.path());
    let (msn, part) = rendition.next_part();

    // Already listed: answered at once, with the whole playlist and a short cache life.
    let reply = get(serve.addr, &format!("{base}/live.m3u8?_HLS_msn={msn}&_HLS_part={}", part - 1));
    assert_eq!(reply.status, 200);
    let listed =
        format!("BYTERANGE=\"{}@{}\"", Rendition::part_bytes(msn, part - 1).len(), Rendition::offset(msn, part - 1));
    assert!(String::from_utf8_lossy(&reply.body).contains(&listed), "{listed}");
    let cache = reply.header("Cache-Control").unwrap_or_default().to_string();
    assert!(cache.contains("max-age") && !cache.contains("immutable"), "{cache}");

    // The next part: blocked until it is written and listed.
    let blocked = get_later(serve.addr, &format!("{base}/live.m3u8?_HLS_msn={msn}&_HLS_part={part}"), &[]);
    sleep(Duration::from_millis(400));
    assert!(!blocked.is_finished(), "answered before the part existed");
    assert_eq!(serve.origin().1, 1, "one request waits");
    let written = Instant::now();
    rendition.add_part();
    let (reply, answered) = blocked.join().unwrap();
    assert_eq!(reply.status, 200);
    let body = String::from_utf8_lossy(&reply.body).to_string();
    let part_line =
        format!("BYTERANGE=\"{}@{}\"", Rendition::part_bytes(msn, part).len(), Rendition::offset(msn, part));
    assert!(body.contains(&part_line), "{part_line} in {body}");
    println!("blocked reload answered {:?} after the playlist was renamed", answered - written);

    // A whole segment asked for (no _HLS_part): answered once it is complete, and the
    // segment after it, by the same rule, only later.
    let (msn, _) = rendition.next_part();
    let segment = get_later(serve.addr, &format!("{base}/live.m3u8?_HLS_msn={}", msn + 1), &[]);
    sleep(Duration::from_millis(300));
    assert!(!segment.is_finished());
    while rendition.next_part().0 <= msn + 1 {
        rendition.add_part();
    }
    let (reply, _) = segment.join().unwrap();
    assert_eq!(reply.status, 200);
    assert!(String::from_utf8_lossy(&reply.body).contains(&format!("\n{}.m4s\n", msn + 1)));

    // More than two segments beyond the last complete one: 400 at once.
    let (msn, _) = rendition.next_part();
    let started = Instant::now();
    let reply = get(serve.addr, &format!("{base}/live.m3u8?_HLS_msn={}&_HLS_part=0", msn + 2));
    assert_eq!(reply.status, 400, "{}", String::from_utf8_lossy(&reply.body));
    assert!(started.elapsed() < Duration::from_secs(1), "a bad request is not held");
    // Held longer than three target durations (3 s here): 503, for the playlist, the hinted
    // part (the next segment's first, its file not even created) and that segment whole.
    let (hinted, start) = rendition.hint();
    assert_eq!(start, 0);
    let started = Instant::now();
    let part = get_later(serve.addr, &format!("{base}/{hinted}"), &[("Range", "bytes=0-")]);
    let whole = get_later(serve.addr, &format!("{base}/{hinted}"), &[]);
    let reply = get(serve.addr, &format!("{base}/live.m3u8?_HLS_msn={}&_HLS_part=0", msn + 1));
    assert_eq!(reply.status, 503);
    assert!(started.elapsed() >= Duration::from_millis(2900), "503 only after 3 target durations");
    for waiting in [part, whole] {
        let (reply, answered) = waiting.join().unwrap();
        assert_eq!(reply.status, 503, "{}", String::from_utf8_lossy(&reply.body));
        assert!(answered - started >= Duration::from_millis(2900));
    }
    // A segment the playlist does not mention is served (here: not found) as any file.
    assert_eq!(get(serve.addr, &format!("{base}/{}.m4s", msn + 5)).status, 404);
    // Nothing left waiting, and no watcher without a waiter.
    wait_for_idle(&serve);
}

#[test]
fn the_hinted_part_is_exactly_its_bytes_and_a_segment_being_made_is_only_served_whole() {
    let (dir, mut rendition, base) = root_with_rendition();
    let serve = Serve::start(dir.path());
    let (msn, part) = rendition.next_part();
    let (hinted, start) = rendition.hint();
    assert_eq!(hinted, format!("{msn}.m4s"));
    let target = format!("{base}/{hinted}");
    let open_ended = format!("bytes={start}-");

    // The hinted part is asked for before it exists, as a player asks for it: an open-ended
    // range from the hint's start. The producer then writes half of it in place (what a
    // reader must never be given), and only later the rest and the playlist.
    let request = get_later(serve.addr, &target, &[("Range", &open_ended)]);
    sleep(Duration::from_millis(300));
    assert!(!request.is_finished());
    let bytes = Rendition::part_bytes(msn, part);
    rendition.write_in_place(msn, part, &bytes[..bytes.len() / 2]);
    sleep(Duration::from_millis(500));
    assert!(!request.is_finished(), "answered with a part not yet listed");
    rendition.add_part();
    let (reply, _) = request.join().unwrap();
    let end = start + bytes.len() as u64 - 1;
    assert_eq!(reply.status, 206);
    assert_eq!(reply.header("Content-Range"), Some(format!("bytes {start}-{end}/*").as_str()), "length not known yet");
    assert!(reply.body == bytes, "the hinted part exactly: {} bytes, {} expected", reply.body.len(), bytes.len());
    let cache = reply.header("Cache-Control").unwrap_or_default();
    assert!(cache.contains("immutable"), "a listed part never changes: {cache}");

    // The next part is already in the file but not listed: asked for by its start it waits,
    // and the part before it, asked the same way, is still exactly that part.
    let (_, next) = rendition.next_part();
    let (_, next_start) = rendition.hint();
    rendition.write_in_place(msn, next, &Rendition::part_bytes(msn, next));
    let waiting = get_later(serve.addr, &target, &[("Range", &format!("bytes={next_start}-"))]);
    let reply = get_range(serve.addr, &target, &open_ended);
    assert_eq!((reply.status, reply.body == bytes), (206, true), "{:?}", reply.header("Content-Range"));
    // A closed range reaching beyond the listed bytes ends where they end.
    let reply = get_range(serve.addr, &target, "bytes=10-999999");
    assert_eq!(reply.header("Content-Range"), Some(format!("bytes 10-{end}/*").as_str()));
    assert!(reply.body[..] == Rendition::segment_bytes(msn)[10..=end as usize]);
    // The segment being made, asked for whole, waits until it is complete.
    let whole = get_later(serve.addr, &target, &[]);
    sleep(Duration::from_millis(300));
    assert!(!waiting.is_finished() && !whole.is_finished(), "answered with bytes not listed");
    rendition.add_part();
    let (reply, _) = waiting.join().unwrap();
    assert_eq!(reply.status, 206);
    assert!(reply.body == Rendition::part_bytes(msn, next));
    sleep(Duration::from_millis(300));
    assert!(!whole.is_finished(), "a segment being made was served before it was complete");
    while rendition.next_part().0 == msn {
        rendition.add_part();
    }
    let (reply, _) = whole.join().unwrap();
    assert_eq!(reply.status, 200);
    assert!(reply.body == Rendition::segment_bytes(msn), "the whole segment: {} bytes", reply.body.len());
    assert!(reply.header("Cache-Control").unwrap_or_default().contains("immutable"));
    // Complete now: a part by its start is still exactly that part, with the length known.
    let reply = get_range(serve.addr, &target, &open_ended);
    let total = Rendition::segment_bytes(msn).len();
    assert_eq!(reply.header("Content-Range"), Some(format!("bytes {start}-{end}/{total}").as_str()));
    assert!(reply.body == bytes);

    // A viewer that disconnects while blocked, on the playlist or on the hinted part: its
    // wait and the watcher it held go away.
    let (msn, part) = rendition.next_part();
    let (hinted, start) = rendition.hint();
    let mut playlist = TcpStream::connect(serve.addr).unwrap();
    write!(playlist, "GET {base}/live.m3u8?_HLS_msn={msn}&_HLS_part={part} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut part = TcpStream::connect(serve.addr).unwrap();
    write!(part, "GET {base}/{hinted} HTTP/1.1\r\nHost: x\r\nRange: bytes={start}-\r\n\r\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while serve.origin() != (1, 2) {
        assert!(Instant::now() < deadline, "the requests never waited: {:?}", serve.origin());
        sleep(Duration::from_millis(50));
    }
    drop(playlist);
    drop(part);
    wait_for_idle(&serve);
}

/// The threads of the server's file watchers (notify names them `notify-rs ...`).
fn watcher_threads(serve: &Serve) -> usize {
    let tasks = std::fs::read_dir(format!("/proc/{}/task", serve.child.id())).unwrap();
    let names = tasks.filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok());
    names.filter(|name| name.starts_with("notify-rs")).count()
}

/// Nothing left waiting, no watcher without a waiter, and no watcher thread left running
/// (a thread that never gets to its shutdown keeps a core busy).
fn wait_for_idle(serve: &Serve) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while serve.origin() != (0, 0) || watcher_threads(serve) > 0 {
        assert!(
            Instant::now() < deadline,
            "waiters or watchers left behind: {:?}, {} watcher threads",
            serve.origin(),
            watcher_threads(serve)
        );
        sleep(Duration::from_millis(50));
    }
}

/// The hint and the next part of a live playlist's text: `((uri, start), (msn, part))`.
fn hint_and_next(text: &str) -> Option<((String, u64), (u64, u64))> {
    let hint = text.lines().find(|l| l.starts_with("#EXT-X-PRELOAD-HINT:"))?;
    let uri = hint.split("URI=\"").nth(1)?.split('"').next()?.to_string();
    let start = hint.split("BYTERANGE-START=").nth(1)?.split(',').next()?.trim().parse().ok()?;
    let mut msn: u64 = text.lines().find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))?.trim().parse().ok()?;
    let mut part = 0;
    for line in text.lines() {
        if line.starts_with("#EXT-X-PART:") {
            part += 1;
        } else if !line.is_empty() && !line.starts_with('#') {
            msn += 1;
            part = 0;
        }
    }
    Some(((uri, start), (msn, part)))
}

#[test]
fn serve_in_front_of_a_transcode_gives_each_hinted_part_exactly_as_the_segment_ends_up() {
    let out = tempfile::tempdir().unwrap();
    let mut transcode = Command::new(bin())
        .args(["transcode", "testsrc"])
        .arg(out.path())
        .args(["--duration", "8", "--realtime", "YES", "--hls-time", "2", "--original-mode", "encode"])
        .args(["--segment-format", "cmaf", "--part-seconds", "0.333", "--resolutions", "320x180-30"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let serve = Serve::start(out.path());
    let rendition = out.path().join("hls/test/local/320x180-30");
    let base = "/hls/test/local/320x180-30";
    let started = Instant::now();
    let mut fetched = Vec::new();
    while fetched.len() < 4 && transcode.try_wait().unwrap().is_none() {
        assert!(started.elapsed() < Duration::from_secs(60), "no live playlist with parts");
        let text = String::from_utf8_lossy(&get(serve.addr, &format!("{base}/live.m3u8")).body).to_string();
        let Some(((uri, start), (msn, part))) = hint_and_next(&text) else {
            sleep(Duration::from_millis(100));
            continue;
        };
        // As a player does: the next part's playlist and the hinted part, both before they exist.
        let range = format!("bytes={start}-");
        let hinted = get_later(serve.addr, &format!("{base}/{uri}"), &[("Range", &range)]);
        let reload = get(serve.addr, &format!("{base}/live.m3u8?_HLS_msn={msn}&_HLS_part={part}"));
        let (reply, _) = hinted.join().unwrap();
        if String::from_utf8_lossy(&reload.body).contains("#EXT-X-ENDLIST") {
            break; // the stream ended meanwhile: its files are served as they are
        }
        assert_eq!(reload.status, 200);
        let listed = format!("URI=\"{uri}\",BYTERANGE=\"{}@{start}\"", reply.body.len());
        assert!(String::from_utf8_lossy(&reload.body).contains(&listed), "{listed} not in the answer");
        assert_eq!(reply.status, 206, "{}", String::from_utf8_lossy(&reply.body));
        let content_range = reply.header("Content-Range").unwrap_or_default().to_string();
        fetched.push((uri, start, reply.body, content_range));
    }
    assert!(fetched.len() >= 3, "only {} hinted parts fetched", fetched.len());
    assert!(transcode.wait().unwrap().success());
    for (uri, start, body, content_range) in fetched {
        let segment = std::fs::read(rendition.join(&uri)).unwrap();
        let end = start as usize + body.len();
        assert!(segment[start as usize..end] == body[..], "{uri} bytes {start}-: not the segment's bytes");
        assert!(content_range.starts_with(&format!("bytes {start}-{}/", end - 1)), "{content_range}");
    }
    wait_for_idle(&serve);
}

#[test]
fn origin_load_py_holds_its_viewers_until_the_part_and_reports_the_serve_process() {
    let (dir, mut rendition, base) = root_with_rendition();
    let serve = Serve::start(dir.path());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let producer = std::thread::spawn({
        let stop = stop.clone();
        move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                sleep(Duration::from_millis(200));
                rendition.add_part();
            }
        }
    });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/origin-load.py");
    let output = Command::new("python3")
        .arg(&script)
        .args(["--url", &format!("http://{}{base}/live.m3u8", serve.addr)])
        .args(["--pid", &serve.child.id().to_string(), "--clients", "50", "--follow", "1"])
        .output()
        .expect("python3 runs");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    producer.join().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!((report["waiting_seen"].as_u64(), report["correct"].as_u64()), (Some(50), Some(50)), "{report}");
    assert_eq!(report["process"], "hls-ladder");
    let memory = &report["memory_kb"];
    assert!(memory["held"].as_u64().unwrap() > 1000 && memory["peak"].as_u64() >= memory["held"].as_u64(), "{report}");
    assert!(report["cpu_s"]["connect_and_hold"].as_f64().is_some(), "{report}");
    let follow = &report["follow"];
    assert!(follow["correct"].as_u64().unwrap() >= 50 && follow["errors"] == 0, "{report}");
    assert!(follow["cpu_percent"].as_f64().is_some(), "{report}");
    wait_for_idle(&serve);
}
