//! Storage faults through the real path: a `transcode --job` child (exactly what the worker
//! runs per job) pulling a live RTMP stream from nginx-rtmp and writing to an HTTP storage
//! server on loopback that fails every request for a minute, then recovers.

mod support;
mod util;

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use util::{Nginx, RtmpPublisher};

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
    server: &support::Server,
) -> (Vec<Value>, String) {
    let nginx = Nginx::start(&[channel]);
    let uri = nginx.url(channel, KEY);
    let publisher = RtmpPublisher::start(&uri, "size=320x180:rate=15", false, seconds);
    let job = serde_json::json!({
        "spec": {
            "channel": channel, "stream_id": ID, "source": "Rtmp", "source_uri": uri,
            "resolutions": "320x180-15", "record": record, "previews": null
        },
        "resume": null
    });
    let mut child = Command::new(util::bin())
        .args(["transcode", "--job", "-", "--events", "jsonl", "--hls-time", "2", "--storage-retry", "5"])
        .env("HLS_STORAGE_TYPE", "HTTP")
        .env("HLS_STORAGE_HTTP_URL", server.url("/store"))
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{job}").unwrap();
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
    let output = tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap().unwrap();
    drop(stdin);
    assert!(publisher.wait(), "the publisher ran to its end");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let events: Vec<Value> =
        String::from_utf8_lossy(&output.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    drop(nginx);
    (events, stderr)
}

fn object_text(server: &support::Server, path: &str) -> String {
    let body = server.object(path).unwrap_or_else(|| panic!("{path} is not stored"));
    String::from_utf8(body.to_vec()).unwrap()
}

fn listed(playlist: &str) -> Vec<u64> {
    playlist.lines().filter_map(|l| l.strip_suffix(".ts")).map(|n| n.parse().unwrap()).collect()
}

fn failed_segment_puts(server: &support::Server) -> usize {
    server.log().iter().filter(|r| r.method == "PUT" && r.path.ends_with(".ts")).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_keeps_every_segment_through_a_minute_long_storage_outage() {
    let server = support::Server::start().await;
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
    let server = support::Server::start().await;
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
