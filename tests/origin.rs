//! `hls-ladder serve DIR` as an LL-HLS origin (RFC 8216bis §6.2.5.2 blocking playlist reload,
//! §6.2.6 preload hints), run as a separate process in front of a directory that the test
//! writes the way a worker writes a rendition: each part file whole, then the playlist that
//! lists it, replaced by rename. The server learns of both from the files alone.

pub mod support;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::{sleep, JoinHandle};
use std::time::{Duration, Instant};

use support::http::{get, Reply};
use support::util::{bin, free_port};

/// A GET on its own thread, with the time it was answered.
fn get_later(addr: SocketAddr, target: &str) -> JoinHandle<(Reply, Instant)> {
    let target = target.to_string();
    std::thread::spawn(move || {
        let reply = get(addr, &target);
        (reply, Instant::now())
    })
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

/// One rendition of an LL-HLS stream, written as a worker writes it: target duration 1 s,
/// parts of 0.25 s, segments 0.. complete and parts of the segment being made.
struct Rendition {
    dir: PathBuf,
    /// Complete segments 0..segments.
    segments: u64,
    /// Parts of segment `segments` written so far.
    parts: u64,
}

impl Rendition {
    const PARTS_PER_SEGMENT: u64 = 4;

    fn new(dir: PathBuf) -> Rendition {
        std::fs::create_dir_all(&dir).unwrap();
        let mut r = Rendition { dir, segments: 0, parts: 0 };
        // Two complete segments and two parts of the third.
        for _ in 0..Rendition::PARTS_PER_SEGMENT * 2 + 2 {
            r.add_part();
        }
        r
    }

    fn part_bytes(msn: u64, part: u64) -> Vec<u8> {
        (0..20_000u32).map(|i| (i as u64 * 7 + msn * 13 + part) as u8).collect()
    }

    fn write_atomically(&self, name: &str, bytes: &[u8]) {
        let tmp = self.dir.join(format!("{name}.tmp"));
        std::fs::write(&tmp, bytes).unwrap();
        std::fs::rename(tmp, self.dir.join(name)).unwrap();
    }

    /// Writes the next part whole, then the playlist that lists it.
    fn add_part(&mut self) {
        let (msn, part) = (self.segments, self.parts);
        self.write_atomically(&format!("{msn}.{part}.m4s"), &Rendition::part_bytes(msn, part));
        self.parts += 1;
        if self.parts == Rendition::PARTS_PER_SEGMENT {
            let whole: Vec<u8> = (0..self.parts).flat_map(|p| Rendition::part_bytes(msn, p)).collect();
            self.write_atomically(&format!("{msn}.m4s"), &whole);
            self.segments += 1;
            self.parts = 0;
        }
        self.write_atomically("live.m3u8", self.playlist().as_bytes());
    }

    fn next_part(&self) -> (u64, u64) {
        (self.segments, self.parts)
    }

    fn playlist(&self) -> String {
        let mut text = String::from(
            "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n\
             #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.75\n#EXT-X-PART-INF:PART-TARGET=0.25\n\
             #EXT-X-MAP:URI=\"init-0.mp4\"\n",
        );
        let parts = |text: &mut String, msn: u64, count: u64| {
            for p in 0..count {
                let independent = if p == 0 { ",INDEPENDENT=YES" } else { "" };
                text.push_str(&format!("#EXT-X-PART:DURATION=0.25,URI=\"{msn}.{p}.m4s\"{independent}\n"));
            }
        };
        for msn in 0..self.segments {
            parts(&mut text, msn, Rendition::PARTS_PER_SEGMENT);
            text.push_str(&format!("#EXTINF:1.0,\n{msn}.m4s\n"));
        }
        parts(&mut text, self.segments, self.parts);
        let (msn, part) = self.next_part();
        text.push_str(&format!("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{msn}.{part}.m4s\"\n"));
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
    assert!(String::from_utf8_lossy(&reply.body).contains(&format!("{msn}.{}.m4s", part - 1)));
    let cache = reply.header("Cache-Control").unwrap_or_default().to_string();
    assert!(cache.contains("max-age") && !cache.contains("immutable"), "{cache}");

    // The next part: blocked until it is written and listed.
    let blocked = get_later(serve.addr, &format!("{base}/live.m3u8?_HLS_msn={msn}&_HLS_part={part}"));
    sleep(Duration::from_millis(400));
    assert!(!blocked.is_finished(), "answered before the part existed");
    assert_eq!(serve.origin().1, 1, "one request waits");
    let written = Instant::now();
    rendition.add_part();
    let (reply, answered) = blocked.join().unwrap();
    assert_eq!(reply.status, 200);
    let body = String::from_utf8_lossy(&reply.body).to_string();
    assert!(body.contains(&format!("URI=\"{msn}.{part}.m4s\"")), "{body}");
    println!("blocked reload answered {:?} after the playlist was renamed", answered - written);

    // A whole segment asked for (no _HLS_part): answered once it is complete, and the
    // segment after it, by the same rule, only later.
    let (msn, _) = rendition.next_part();
    let segment = get_later(serve.addr, &format!("{base}/live.m3u8?_HLS_msn={}", msn + 1));
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
    // Held longer than three target durations (3 s here): 503.
    let started = Instant::now();
    let reply = get(serve.addr, &format!("{base}/live.m3u8?_HLS_msn={}&_HLS_part=0", msn + 1));
    assert_eq!(reply.status, 503);
    assert!(started.elapsed() >= Duration::from_millis(2900), "503 only after 3 target durations");
    // Nothing left waiting, and no watcher without a waiter.
    wait_for_idle(&serve);
}

#[test]
fn the_hinted_part_is_returned_whole_and_a_blocked_client_that_leaves_leaves_nothing() {
    let (dir, mut rendition, base) = root_with_rendition();
    let serve = Serve::start(dir.path());
    let (msn, part) = rendition.next_part();
    let hinted = format!("{msn}.{part}.m4s");
    assert!(rendition.playlist().contains(&format!("PRELOAD-HINT:TYPE=PART,URI=\"{hinted}\"")));

    // The hinted part is asked for before it exists; the producer then writes half of it in
    // place (what a reader must never be given) and only later the rest and the playlist.
    let request = get_later(serve.addr, &format!("{base}/{hinted}"));
    sleep(Duration::from_millis(300));
    assert!(!request.is_finished());
    let whole = Rendition::part_bytes(msn, part);
    std::fs::write(rendition.dir.join(&hinted), &whole[..whole.len() / 2]).unwrap();
    sleep(Duration::from_millis(500));
    assert!(!request.is_finished(), "answered with a part not yet listed");
    rendition.add_part();
    let (reply, _) = request.join().unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, whole, "the hinted part whole");
    let cache = reply.header("Cache-Control").unwrap_or_default();
    assert!(cache.contains("immutable"), "a listed part never changes: {cache}");

    // A viewer that disconnects while blocked: its wait and the watcher it held go away.
    let (msn, part) = rendition.next_part();
    let mut stream = TcpStream::connect(serve.addr).unwrap();
    write!(stream, "GET {base}/live.m3u8?_HLS_msn={msn}&_HLS_part={part} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while serve.origin() != (1, 1) {
        assert!(Instant::now() < deadline, "the request never waited: {:?}", serve.origin());
        sleep(Duration::from_millis(50));
    }
    drop(stream);
    wait_for_idle(&serve);
}

fn wait_for_idle(serve: &Serve) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while serve.origin() != (0, 0) {
        assert!(Instant::now() < deadline, "waiters or watchers left behind: {:?}", serve.origin());
        sleep(Duration::from_millis(50));
    }
}
