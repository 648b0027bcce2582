//! `hls-ladder serve` and `transcode --serve`: the file server over raw HTTP (content types,
//! cache and CORS headers, ranges, hostile paths), and the player page in headless Chromium
//! while a realtime `testsrc` runs (tests/browser/player.mjs).

pub mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::http::{get, request};
use support::util::*;

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn the_file_server_sets_types_caching_cors_and_ranges_and_never_leaves_its_root() {
    // outer/ holds a secret next to the served root, the target of every escape attempt.
    let outer = tempfile::tempdir().unwrap();
    let outer_path = std::fs::canonicalize(outer.path()).unwrap();
    let root = outer_path.join("root");
    write(&outer_path.join("secret.txt"), b"TOPSECRET");
    let stream = root.join("hls/test/local");
    write(&stream.join("master.m3u8"), b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n640x360-30/live.m3u8\n");
    write(&stream.join("640x360-30/live.m3u8"), b"#EXTM3U\n#EXT-X-TARGETDURATION:3\n#EXTINF:3.0,\n0.ts\n");
    let segment: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    write(&stream.join("640x360-30/0.ts"), &segment);
    let previews = root.join("img-preview/test/local/160x90-2");
    write(&previews.join("0.jpg"), b"\xff\xd8\xff\xe0jpeg");
    write(&previews.join("index.json"), br#"{"index_start":0,"count":1,"pattern":"%d.jpg"}"#);
    std::os::unix::fs::symlink(&outer_path, root.join("hls/out")).unwrap();
    std::os::unix::fs::symlink(outer_path.join("secret.txt"), root.join("hls/test/local/secret.ts")).unwrap();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(hls_ladder::serve::Server::bind("127.0.0.1:0".parse().unwrap(), &root)).unwrap();
    let addr = server.local_addr();
    runtime.spawn(server.run(std::future::pending()));

    // Content types, caching, CORS.
    for (path, content_type, cache) in [
        ("/hls/test/local/master.m3u8", "application/vnd.apple.mpegurl", "no-cache"),
        ("/hls/test/local/640x360-30/live.m3u8", "application/vnd.apple.mpegurl", "no-cache"),
        ("/hls/test/local/640x360-30/0.ts", "video/mp2t", "max-age=30"),
        ("/img-preview/test/local/160x90-2/0.jpg", "image/jpeg", "max-age=30"),
        ("/img-preview/test/local/160x90-2/index.json", "application/json", "no-cache"),
    ] {
        let r = get(addr, path);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type"), Some(content_type), "{path}");
        assert_eq!(r.header("cache-control"), Some(cache), "{path}");
        assert_eq!(r.header("access-control-allow-origin"), Some("*"), "{path}");
        assert_eq!(r.header("accept-ranges"), Some("bytes"), "{path}");
        assert_eq!(r.body, std::fs::read(root.join(&path[1..])).unwrap(), "{path}");
    }
    let ts = "/hls/test/local/640x360-30/0.ts";
    let r = request(addr, "GET", ts, &[("Range", "bytes=10-19")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 10-19/1000"));
    assert_eq!(r.header("content-length"), Some("10"));
    assert_eq!(r.body, &segment[10..20]);
    let r = request(addr, "GET", ts, &[("Range", "bytes=-5")]);
    assert_eq!((r.status, r.header("content-range")), (206, Some("bytes 995-999/1000")));
    assert_eq!(r.body, &segment[995..]);
    let r = request(addr, "GET", ts, &[("Range", "bytes=1000-")]);
    assert_eq!((r.status, r.header("content-range")), (416, Some("bytes */1000")));
    // A range on a changed file (If-Range no longer matches) is the whole file.
    let r = request(addr, "GET", ts, &[("Range", "bytes=0-1"), ("If-Range", "\"old\"")]);
    assert_eq!((r.status, r.body.len()), (200, 1000));
    let etag = get(addr, ts).header("etag").unwrap().to_string();
    let r = request(addr, "GET", ts, &[("If-None-Match", &etag)]);
    assert_eq!((r.status, r.body.len()), (304, 0));
    let r = request(addr, "HEAD", ts, &[]);
    assert_eq!((r.status, r.header("content-length"), r.body.len()), (200, Some("1000"), 0));
    let r = request(addr, "OPTIONS", ts, &[("Origin", "http://example.com"), ("Access-Control-Request-Method", "GET")]);
    assert_eq!((r.status, r.header("access-control-allow-origin")), (204, Some("*")));
    assert_eq!(request(addr, "POST", ts, &[]).status, 405);

    // The pages and their JSON.
    let r = get(addr, "/");
    assert_eq!((r.status, r.header("content-type")), (200, Some("text/html; charset=utf-8")));
    assert!(String::from_utf8_lossy(&r.body).contains("href=\"/watch/test/local\""));
    let r = get(addr, "/api/streams/test/local");
    assert_eq!((r.status, r.header("content-type")), (200, Some("application/json")));
    let info: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(info["live_uri"], "/hls/test/local/master.m3u8");
    assert_eq!(info["previews"][0]["count"], 1);
    assert_eq!(get(addr, "/api/streams/test/none").body, b"null");
    assert_eq!(get(addr, "/watch/test/local").status, 200);
    let r = get(addr, "/assets/hls.min.js");
    assert_eq!((r.status, r.header("content-type")), (200, Some("text/javascript; charset=utf-8")));
    assert!(r.body.len() > 100_000, "hls.js is in the binary");
    assert_eq!(get(addr, "/assets/hls.js-LICENSE.txt").status, 200);

    // Nothing outside the root, however asked for: always a 404, never a file.
    let outside = outer_path.join("secret.txt").display().to_string();
    let encoded = outside.replace('/', "%2f");
    for target in [
        "/../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/hls/..%2f..%2fetc/passwd",
        "/etc/passwd",
        "/../secret.txt",
        "/hls/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/hls/%2E%2E/%2e%2e/secret.txt",
        "/hls/..%2f..%2fsecret.txt",
        "/hls/..%5c..%5csecret.txt",
        "/hls/out/secret.txt",
        "/hls/test/local/secret.ts",
        &format!("/{outside}"),
        &format!("/{encoded}"),
        &format!("/hls/{encoded}"),
        "http://127.0.0.1/../secret.txt",
        "/hls/test/local/master.m3u8%00.ts",
        "/hls/test/local",
        "/hls/test/local/",
        "/assets/../../secret.txt",
        "/watch/..%2f..%2f/x",
        "/api/streams/..%2f..%2f/x",
    ] {
        let r = get(addr, target);
        assert_eq!(r.status, 404, "{target}");
        let body = String::from_utf8_lossy(&r.body);
        assert!(!body.contains("TOPSECRET") && !body.contains("root:"), "{target}: {body}");
    }
}

/// The transcode, stopped (Ctrl-C) when dropped.
struct Transcode {
    child: Child,
    log: PathBuf,
}

impl Transcode {
    fn stop(&mut self) -> std::process::ExitStatus {
        // SAFETY: signals our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the transcode did not finish after Ctrl-C");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Transcode {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn seconds_listed(playlist: &Path) -> f64 {
    playlist_entries(playlist).0.iter().map(|e| e.0).sum()
}

#[test]
fn the_player_page_plays_a_live_testsrc_in_headless_chromium() {
    player_page_plays_a_live_testsrc(&[], "serve-screenshot.png");
}

/// The same page over CMAF with LL-HLS parts: hls.js plays fMP4 renditions whose audio is a
/// rendition of its own (`EXT-X-MEDIA:TYPE=AUDIO`), which only its full build can, in
/// lowLatencyMode (parts as byte ranges, blocking playlist reloads) and without a stall after
/// the first seconds (player.mjs --low-latency, 20 s more in the browser). Two small rungs:
/// a player one second behind stalls whenever the encoder falls behind real time, and what is
/// checked here is the player and the origin, not whether this machine encodes the default
/// ladder in real time while other tests run beside it.
#[test]
fn the_player_page_plays_a_live_ll_hls_testsrc_in_headless_chromium_without_stalling() {
    player_page_plays_a_live_testsrc(
        &["--segment-format", "cmaf", "--part-seconds", "0.333", "--resolutions", "640x360-30,320x180-30"],
        "serve-screenshot-cmaf.png",
    );
}

/// The browser tests run one at a time: each is a real-time encode plus a Chromium decoding
/// it, and beside the other one (the default 720p ladder) on a 2-core machine the encoder of
/// the LL-HLS test falls more than its one second of hold-back behind now and then, which the
/// player rightly shows as a stall.
static ONE_BROWSER_TEST_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn player_page_plays_a_live_testsrc(extra: &[&str], screenshot: &str) {
    let _alone = ONE_BROWSER_TEST_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let low_latency = extra.contains(&"--part-seconds");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let log = dir.path().join("transcode.log");
    let started = Instant::now();
    let child = Command::new(bin())
        .args(["transcode", "testsrc"])
        .arg(&out)
        .args(["--serve", &format!("127.0.0.1:{port}"), "--previews", "160x90,2", "--record"])
        // Media time for the browser checks (the LL check plays 20 s more) and a little after.
        .args(["--duration", if low_latency { "50" } else { "30" }])
        .args(["--live-size", "4"])
        .args(extra)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut transcode = Transcode { child, log };

    let stream = out.join("hls/test/local");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !stream.join("master.m3u8").exists() {
        assert!(Instant::now() < deadline, "no master.m3u8 after 60 s\n{}", transcode.log());
        assert!(transcode.child.try_wait().unwrap().is_none(), "the transcode ended\n{}", transcode.log());
        std::thread::sleep(Duration::from_millis(100));
    }

    let screenshot = repo.join("target").join(screenshot);
    std::fs::create_dir_all(screenshot.parent().unwrap()).unwrap();
    let browser = Command::new("node")
        .arg(repo.join("tests/browser/player.mjs"))
        .args(low_latency.then_some("--low-latency"))
        .args([base.as_str(), "test/local"])
        .arg(&screenshot)
        .env("NODE_PATH", repo.join("target/npm/node_modules"))
        .current_dir(repo)
        .output()
        .expect("node (scripts/install-deps.sh installs it)");
    let browser_output = format!(
        "--- player.mjs stdout ---\n{}\n--- player.mjs stderr ---\n{}",
        String::from_utf8_lossy(&browser.stdout),
        String::from_utf8_lossy(&browser.stderr)
    );
    println!("{browser_output}");
    assert!(transcode.child.try_wait().unwrap().is_none(), "the stream was live throughout the browser checks");
    // The live window slides once more than its four entries were cut: a slow machine may
    // still be short of that when the browser checks end, so the stream runs on until then.
    let slid = |dir: &std::path::Path| {
        std::fs::read_to_string(dir.join("live.m3u8"))
            .ok()
            .and_then(|live| tag_value(&live, "#EXT-X-MEDIA-SEQUENCE").and_then(|v| v.parse::<u64>().ok()))
            .is_some_and(|sequence| sequence > 0)
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_dir(&stream).unwrap().flatten().any(|e| slid(&e.path())) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let wall = started.elapsed().as_secs_f64();
    let status = transcode.stop();
    assert!(
        browser.status.success(),
        "the browser checks failed\n{browser_output}\n--- transcode ---\n{}",
        transcode.log()
    );
    assert!(status.success(), "transcode after Ctrl-C: {status:?}\n{}", transcode.log());
    assert!(screenshot.metadata().unwrap().len() > 10_000, "a screenshot of the page");

    // Realtime: the whole recording is no longer than the wall time the run had; and the
    // live window slid (4 entries of a longer recording).
    let label = std::fs::read_dir(&stream)
        .unwrap()
        .flatten()
        .find(|e| e.path().join("vod-0.m3u8").exists())
        .expect("a recorded rendition")
        .path();
    let recorded = seconds_listed(&label.join("vod-0.m3u8"));
    assert!(recorded <= wall + 1.0, "{recorded} s of media in {wall:.1} s of wall time: not realtime");
    let live = std::fs::read_to_string(label.join("live.m3u8")).unwrap();
    let sequence: u64 = tag_value(&live, "#EXT-X-MEDIA-SEQUENCE").unwrap().parse().unwrap();
    assert!(sequence > 0, "the live window slid\n{live}");
    assert!(transcode.log().contains(&format!("{base}/watch/test/local")), "the URL is logged\n{}", transcode.log());
}

#[test]
fn realtime_reads_no_faster_than_the_media_plays() {
    let out = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let (output, events, text) =
        transcode("testsrc", out.path(), &["--realtime", "--duration", "4", "--resolutions", "320x180-30"]);
    let wall = started.elapsed().as_secs_f64();
    assert!(output.status.success(), "{text}");
    assert_eq!(events_of(&events, "closed")[0]["reason"], "DurationReached", "{text}");
    // 4 s of media: the last frame (at 3.967 s) is read no earlier than its time.
    assert!(wall >= 3.9, "4 s of media in {wall:.2} s\n{text}");
}
