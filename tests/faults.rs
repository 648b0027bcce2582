//! Storage faults through the real path: a transcode (a `--job` child exactly as the worker
//! runs it, or the CLI) pulling a live RTMP stream from nginx-rtmp, writing to an HTTP storage
//! server on loopback that fails or hangs, or to a filesystem that fills up or is read-only
//! (a small tmpfs and a read-only bind mount: the tests run as root, as CI does).

pub mod support;

use support::{storage_server, util};

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::util::{JobChild, Nginx, RtmpPublisher};

const ID: &str = "0000018f4a2b3c4d00000007a1b2c3d4";
const KEY: &str = "faultkey";
const OUTAGE: Duration = Duration::from_secs(60);

/// Runs `transcode --job -` for a 320x180 live stream of `seconds` against `server`, with
/// storage failing with 503 for [`OUTAGE`] once the first recording or live playlist is
/// stored. Returns the child's events and its stderr.
async fn transcode_through_an_outage(
    channel: &str,
    record: bool,
    seconds: u32,
    server: &storage_server::Server,
) -> (Vec<Value>, String) {
    let nginx = Nginx::start(&[channel]);
    let uri = nginx.url(channel, KEY);
    let publisher = RtmpPublisher::start(&uri, "size=320x180:rate=15", false, seconds);
    let url = server.url("/store");
    let flags =
        ["--hls-time", "2", "--storage-retry", "5", "--storage-type", "HTTP", "--storage-http-url", url.as_str()];
    let job = util::rtmp_job(channel, ID, &uri, "320x180-15", record, &flags);
    let child = JobChild::start(&job);
    // The outage starts once the stream is published (its first playlist is stored).
    let playlist = format!("/store/hls/{channel}/{ID}/320x180-15/{}", if record { "vod-0.m3u8" } else { "live.m3u8" });
    let start = Instant::now();
    while server.object(&playlist).is_none() {
        assert!(start.elapsed() < Duration::from_secs(40), "the stream never published");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.fail_everything(Some(503));
    tokio::time::sleep(OUTAGE).await;
    server.fail_everything(None);
    let (events, stderr) = child.finish().await;
    assert!(publisher.wait(), "the publisher ran to its end");
    let events: Vec<Value> = events.into_iter().map(|(_, e)| e).collect();
    drop(nginx);
    (events, stderr)
}

fn object_text(server: &storage_server::Server, path: &str) -> String {
    let body = server.object(path).unwrap_or_else(|| panic!("{path} is not stored"));
    String::from_utf8(body.to_vec()).unwrap()
}

fn listed(playlist: &str) -> Vec<u64> {
    playlist.lines().filter_map(|l| l.strip_suffix(".ts")).map(|n| n.parse().unwrap()).collect()
}

fn failed_segment_puts(server: &storage_server::Server) -> usize {
    server.log().iter().filter(|r| r.method == "PUT" && r.path.ends_with(".ts")).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_keeps_every_segment_through_a_minute_long_storage_outage() {
    let server = storage_server::Server::start().await;
    let (events, stderr) = transcode_through_an_outage("rec", true, 85, &server).await;
    let closed = util::events_of(&events, "closed");
    assert_eq!(closed.len(), 1, "{stderr}");
    assert_eq!(closed[0]["reason"], "EndOfStream", "{stderr}");
    assert!(util::events_of(&events, "segment_skipped").is_empty(), "nothing skipped\n{stderr}");

    let dir = format!("/store/hls/rec/{ID}/320x180-15");
    let vod = object_text(&server, &format!("{dir}/vod-0.m3u8"));
    let numbers = listed(&vod);
    // 85 s in 2 s segments, of which 60 s under the outage.
    assert!(numbers.len() >= 38, "{} segments\n{vod}", numbers.len());
    assert_eq!(numbers, (0..numbers.len() as u64).collect::<Vec<_>>(), "every group, in order\n{vod}");
    assert!(!vod.contains("DISCONTINUITY"), "{vod}");
    assert!(vod.contains("#EXT-X-PLAYLIST-TYPE:VOD\n") && vod.ends_with("#EXT-X-ENDLIST\n"), "{vod}");
    for n in &numbers {
        assert!(server.object(&format!("{dir}/{n}.ts")).is_some_and(|b| !b.is_empty()), "{n}.ts missing");
    }
    // The outage really hit segments: many PUTs of them were answered 503 and retried.
    let segment_puts = failed_segment_puts(&server);
    assert!(segment_puts > numbers.len() + 20, "{segment_puts} segment PUTs for {} segments", numbers.len());
    assert!(stderr.contains("stored after retrying"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_stream_skips_what_it_cannot_store_and_goes_on_after_the_outage() {
    let server = storage_server::Server::start().await;
    let (events, stderr) = transcode_through_an_outage("live", false, 85, &server).await;
    let closed = util::events_of(&events, "closed");
    assert_eq!(closed.len(), 1, "{stderr}");
    let skipped: Vec<u64> =
        util::events_of(&events, "segment_skipped").iter().map(|e| e["n"].as_u64().unwrap()).collect();
    let published: Vec<u64> =
        util::events_of(&events, "segment").iter().map(|e| e["group"]["n"].as_u64().unwrap()).collect();
    assert!(skipped.len() >= 20, "the outage skipped groups after the 5 s retry deadline: {skipped:?}");
    let last_skipped = *skipped.iter().max().unwrap();
    assert!(published.iter().filter(|&&n| n > last_skipped).count() >= 5, "the stream went on: {published:?}");

    let live = object_text(&server, &format!("/store/hls/live/{ID}/320x180-15/live.m3u8"));
    assert!(live.ends_with("#EXT-X-ENDLIST\n"), "{live}");
    for n in listed(&live) {
        let path = format!("/store/hls/live/{ID}/320x180-15/{n}.ts");
        assert!(server.object(&path).is_some(), "live.m3u8 lists {n}.ts, which is not stored\n{live}");
    }
    assert!(stderr.contains("skipped"), "the operator is told: {stderr}");
}

/// A mount that is undone when dropped.
struct Mount(std::path::PathBuf);

impl Mount {
    fn new(dir: &std::path::Path, args: &[&str]) -> Mount {
        let out = Command::new("mount").args(args).arg(dir).output().expect("mount runs");
        assert!(
            out.status.success(),
            "these tests need to mount a tmpfs / bind mount (root, as in CI): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Mount(dir.to_path_buf())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// `transcode RTMP OUT` (the CLI) for a live 320x180 stream of `seconds`; `during` runs
/// while it transcodes. Returns the events and stderr.
async fn cli_transcode_live(
    channel: &str,
    seconds: u32,
    out: &std::path::Path,
    extra: &[&str],
    during: impl std::future::Future<Output = ()>,
) -> (Vec<Value>, String) {
    let nginx = Nginx::start(&[channel]);
    let uri = nginx.url(channel, KEY);
    let publisher = RtmpPublisher::start(&uri, "size=320x180:rate=30", false, seconds);
    let mut cmd = Command::new(util::bin());
    cmd.arg("transcode").arg(&uri).arg(out).args(["--events", "jsonl", "--hls-time", "1"]).args(extra);
    cmd.args(["--resolutions", "320x180-30"]).env_remove("RUST_LOG").stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    during.await;
    let output = tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap().unwrap();
    assert!(publisher.wait());
    drop(nginx);
    let events = String::from_utf8_lossy(&output.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    (events, String::from_utf8_lossy(&output.stderr).into_owned())
}

fn numbers(events: &[Value], kind: &str) -> Vec<u64> {
    let n = |e: &&Value| if kind == "segment" { e["group"]["n"].as_u64() } else { e["n"].as_u64() };
    util::events_of(events, kind).iter().filter_map(n).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_skips_groups_with_a_clear_error_and_publishing_resumes_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let mount = Mount::new(dir.path(), &["-t", "tmpfs", "-o", "size=2m", "tmpfs"]);
    let out = dir.path().join("out");
    // Leave room for a few segments only.
    let filler = dir.path().join("filler");
    std::fs::write(&filler, vec![0u8; 1_700_000]).unwrap();
    let live = out.join("hls/test/local/320x180-30/live.m3u8");
    let free_later = async {
        let start = Instant::now();
        while !live.exists() {
            assert!(start.elapsed() < Duration::from_secs(30), "nothing was published");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_secs(6)).await;
        std::fs::remove_file(&filler).unwrap();
    };
    let (events, stderr) = cli_transcode_live("full", 16, &out, &[], free_later).await;
    let skipped = numbers(&events, "segment_skipped");
    let published = numbers(&events, "segment");
    assert!(!skipped.is_empty(), "the disk filled up: {stderr}");
    assert!(stderr.contains("the disk is full"), "the operator is told what to do: {stderr}");
    let last_skipped = *skipped.iter().max().unwrap();
    assert!(published.iter().filter(|&&n| n > last_skipped).count() >= 3, "resumed: {published:?} / {skipped:?}");
    assert_eq!(util::events_of(&events, "closed")[0]["reason"], "EndOfStream", "{stderr}");
    // No partial file under a final name, no temporary left behind.
    let files = util::tree(&out);
    assert!(files.iter().all(|f| !f.ends_with(".tmp")), "{files:?}");
    let text = std::fs::read_to_string(&live).unwrap();
    assert!(text.ends_with("#EXT-X-ENDLIST\n"), "{text}");
    for n in listed(&text) {
        let ts = live.with_file_name(format!("{n}.ts"));
        let probe = Command::new("ffprobe").args(["-v", "error", "-show_packets"]).arg(&ts).output().unwrap();
        assert!(
            probe.status.success() && probe.stderr.is_empty(),
            "{n}.ts: {}",
            String::from_utf8_lossy(&probe.stderr)
        );
    }
    drop(mount);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_directory_fails_fast_with_a_clear_error_and_the_stream_still_ends() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(out.join("hls")).unwrap();
    let bind = Mount::new(&out, &["--bind", out.to_str().unwrap()]);
    let ro = Command::new("mount").args(["-o", "remount,bind,ro"]).arg(&out).status().unwrap();
    assert!(ro.success(), "remounting read-only");
    let started = Instant::now();
    let (events, stderr) = cli_transcode_live("ro", 6, &out, &["--storage-retry", "30"], async {}).await;
    assert!(started.elapsed() < Duration::from_secs(25), "a read-only target is not retried for 30 s per file");
    assert!(numbers(&events, "segment").is_empty());
    assert!(numbers(&events, "segment_skipped").len() >= 3, "{stderr}");
    assert!(stderr.contains("read-only"), "the operator is told what to do: {stderr}");
    assert_eq!(util::events_of(&events, "closed").len(), 1, "{stderr}");
    drop(bind);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_storage_that_hangs_times_out_instead_of_holding_uploads_and_the_stream_recovers() {
    let server = storage_server::Server::start().await;
    let nginx = Nginx::start(&["hang"]);
    let uri = nginx.url("hang", KEY);
    let publisher = RtmpPublisher::start(&uri, "size=320x180:rate=15", false, 20);
    let started = Instant::now();
    let url = server.url("/store");
    let flags = [
        ["--hls-time", "1"],
        ["--storage-retry", "4"],
        ["--storage-type", "HTTP"],
        ["--storage-http-url", url.as_str()],
        ["--storage-timeout", "2"],
    ]
    .concat();
    let job = util::rtmp_job("hang", ID, &uri, "320x180-15", false, &flags);
    let child = JobChild::start(&job);
    let playlist = format!("/store/hls/hang/{ID}/320x180-15/live.m3u8");
    while server.object(&playlist).is_none() {
        assert!(started.elapsed() < Duration::from_secs(40), "the stream never published");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Every request now hangs for a minute; eight seconds later the server answers again.
    server.stall_everything(Duration::from_secs(60));
    tokio::time::sleep(Duration::from_secs(8)).await;
    server.stop_stalling();
    let (events, stderr) = child.finish().await;
    assert!(publisher.wait());
    let events: Vec<Value> = events.into_iter().map(|(_, e)| e).collect();
    let skipped = numbers(&events, "segment_skipped");
    let published = numbers(&events, "segment");
    assert!(!skipped.is_empty(), "{stderr}");
    assert!(stderr.contains("got no answer within"), "timeouts are reported: {stderr}");
    let last_skipped = *skipped.iter().max().unwrap();
    assert!(published.iter().filter(|&&n| n > last_skipped).count() >= 3, "{published:?} / {skipped:?}");
    // The stream ended with its source, not a minute later behind hung requests.
    assert!(started.elapsed() < Duration::from_secs(50), "{:?}", started.elapsed());
    let live = object_text(&server, &playlist);
    assert!(live.ends_with("#EXT-X-ENDLIST\n"), "{live}");
    drop(nginx);
}
