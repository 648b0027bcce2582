//! The HLS WebSocket CDN push (output-layout §14) through the real path: a `transcode --job`
//! child (what the worker runs per job) pulling a live RTMP stream from nginx-rtmp, storing
//! on the filesystem and pushing to strict fake CDN servers on loopback.

pub mod support;

use support::util;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::cdn_server::{Behaviour, FakeCdn};
use support::util::{JobChild, Nginx, RtmpPublisher};

const ID: &str = "0000018f4a2b3c4d00000007a1b2c3d4";
const KEY: &str = "cdnkey";
const SECRET: &str = "push-secret";

/// The events of a `transcode --job` run, each with the instant it was read.
struct Run {
    events: Vec<(Instant, Value)>,
    stderr: String,
    storage: tempfile::TempDir,
}

impl Run {
    fn index_available_at(&self, stream_type: &str) -> Vec<Instant> {
        let wanted = |e: &Value| e["event"] == "index_available" && e["stream_type"] == stream_type;
        self.events.iter().filter(|(_, e)| wanted(e)).map(|(t, _)| *t).collect()
    }
}

/// Publishes `seconds` of 320x180 through nginx and transcodes it with the push to `urls`.
async fn run(channel: &str, seconds: u32, urls: &str, ready_timeout: &str, record: bool) -> Run {
    let nginx = Nginx::start(&[channel]);
    let uri = nginx.url(channel, KEY);
    let publisher = RtmpPublisher::start(&uri, "size=320x180:rate=30", false, seconds);
    let storage = tempfile::tempdir().unwrap();
    let storage_path = storage.path().to_str().unwrap();
    let flags = [
        ["--hls-time", "1"],
        ["--filesystem-path", storage_path],
        ["--ws-cdn-enabled", "YES"],
        ["--ws-cdn-url", urls],
        ["--ws-cdn-push-secret", SECRET],
        ["--ws-cdn-ready-timeout", ready_timeout],
    ]
    .concat();
    let job = util::rtmp_job(channel, ID, &uri, "320x180-30", record, &flags);
    let (events, stderr) = JobChild::start(&job).finish().await;
    assert!(publisher.wait());
    drop(nginx);
    Run { events, stderr, storage }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_published_segment_is_pushed_in_order_and_hls_live_waits_for_ok() {
    let cdn = FakeCdn::start(SECRET, Behaviour::Accept(Duration::from_secs(2))).await;
    // Twelve seconds: on a loaded machine the worker may join the live stream seconds late, and
    // a stream that ends before the OK releases HLS-LIVE at its end (correctly, but not this test).
    let run = run("cdn1", 12, &cdn.url(), "10", true).await;
    let closed: Vec<&Value> = run.events.iter().map(|(_, e)| e).filter(|e| e["event"] == "closed").collect();
    assert_eq!(closed.len(), 1, "{}", run.stderr);
    cdn.log(|log| {
        assert!(log.violations.is_empty(), "protocol violations: {:?}", log.violations);
        let id = format!("hls/cdn1/{ID}/320x180-30/live.m3u8");
        assert_eq!(log.pushes, [id], "one push connection for the one rendition");
        assert_eq!(log.closes, 1, "CLOSE at the end");
        // HLS-LIVE only after OK, although the playlist was durable two seconds earlier.
        let live = run.index_available_at("HLS-LIVE");
        assert_eq!(live.len(), 1, "{}", run.stderr);
        let first = run.events[0].0;
        let timeline: Vec<_> = run.events.iter().map(|(t, e)| (t.duration_since(first), &e["event"])).collect();
        assert!(
            live[0] > log.ok_at[0],
            "HLS-LIVE before the CDN said OK (OK at {:?}); events: {timeline:?}\n{}",
            log.ok_at[0].saturating_duration_since(first),
            run.stderr
        );
        // Exactly the stored segments, in order, with their EXTINF durations.
        let dir = run.storage.path().join(format!("hls/cdn1/{ID}/320x180-30"));
        let (entries, _) = util::playlist_entries(&dir.join("vod-0.m3u8"));
        assert!(entries.len() >= 5, "{entries:?}");
        assert_eq!(
            log.segments.len(),
            entries.len(),
            "{:?}",
            log.segments.iter().map(|s| s.duration).collect::<Vec<_>>()
        );
        for (pushed, (extinf, uri)) in log.segments.iter().zip(&entries) {
            assert_eq!(pushed.bytes, std::fs::read(dir.join(uri)).unwrap(), "{uri}");
            assert!((f64::from(pushed.duration) - extinf).abs() < 1e-3, "{uri}: {} vs {extinf}", pushed.duration);
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cdn_that_refuses_stalls_or_drops_never_holds_the_stream_back() {
    // The refusing server is tried, marked as failed, and the stream moves on to the other,
    // which drops the first connection after two segments: the push reconnects and goes on.
    let refusing = FakeCdn::start(SECRET, Behaviour::Refuse).await;
    let dropping = FakeCdn::start(SECRET, Behaviour::DropAfter(2)).await;
    let urls = format!("{} {}", refusing.url(), dropping.url());
    let run = run("cdn2", 14, &urls, "2", false).await;
    assert!(run.events.iter().any(|(_, e)| e["event"] == "closed"), "{}", run.stderr);
    let published = run.events.iter().filter(|(_, e)| e["event"] == "segment").count();
    dropping.log(|log| {
        assert!(log.violations.is_empty(), "{:?}", log.violations);
        assert!(log.pushes.len() >= 2, "reconnected after the drop: {:?}", log.pushes);
        assert!(log.segments.len() >= published / 2, "{} of {published} pushed", log.segments.len());
        assert_eq!(log.closes, 1);
    });
    assert!(run.stderr.contains("CDN push failed"), "{}", run.stderr);

    // A server that never answers: HLS-LIVE after the ready timeout, storage unaffected.
    let stalling = FakeCdn::start(SECRET, Behaviour::Stall).await;
    let run = self::run("cdn3", 12, &stalling.url(), "2", false).await;
    let live = run.index_available_at("HLS-LIVE");
    assert_eq!(live.len(), 1, "{}", run.stderr);
    let first_segment = run.events.iter().find(|(_, e)| e["event"] == "segment").map(|(t, _)| *t).unwrap();
    let held = live[0].duration_since(first_segment);
    let t0 = run.events[0].0;
    let timeline: Vec<String> =
        run.events.iter().map(|(t, e)| format!("{:.3} {}", (*t - t0).as_secs_f64(), e["event"])).collect();
    assert!(
        held >= Duration::from_millis(1500) && held < Duration::from_secs(5),
        "held {held:?}\n{timeline:#?}\n{}",
        run.stderr
    );
    assert!(run.events.iter().filter(|(_, e)| e["event"] == "segment").count() >= 4);
    stalling.log(|log| assert!(log.violations.is_empty(), "{:?}", log.violations));
}
