//! `hls-ladder worker` end to end: the real binary against the strict fake coordinator, with
//! nginx-rtmp as the ingest server and the ffmpeg CLI publishing, as in production. These
//! cover the conformance scenarios of coordinator-protocol §13 that need real processes;
//! the job table's decisions are covered scenario by scenario in its unit tests.

pub mod support;

use support::{storage_server, util, worker_process};

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::fake_coordinator::{FakeCoordinator, Recorded};
use support::util::{bin, make_media, playlist_entries, Nginx, RtmpPublisher};
use support::worker_process::{OnDrop, Worker};
use support::ws_ingest::WsIngest;

const SECRET: &str = "s";
const ID: &str = "0000018f4a2b3c4d00000007a1b2c3d4";
const ID2: &str = "0000018f4a2b3c4d00000008b1b2c3d4";
const KEY: &str = "publisherkey42";

/// A worker with the tests' defaults (debug logging) and `env` on top, ended with SIGKILL.
fn start_worker(coordinator: &FakeCoordinator, env: &[(&str, &str)]) -> Worker {
    let all: Vec<(&str, &str)> = [("LOG_DEBUG", "YES")].into_iter().chain(env.iter().copied()).collect();
    Worker::start(&coordinator.base_url(), SECRET, &all, OnDrop::Kill)
}

fn encode_start(channel: &str, id: &str, uri: &str, resolutions: &str, record: bool, previews: &str) -> String {
    let record = if record { "True" } else { "False" };
    format!(
        "ENCODE-START\nStream-Channel:{channel}\nStream-ID:{id}\nStream-Source-Type:RTMP\nStream-Source-URI:{uri}\n\
         Resolutions:{resolutions}\nRecord:{record}\nPreviews:{previews}\n"
    )
}

fn of<'a>(frames: &'a [Recorded], method: &str) -> Vec<&'a Recorded> {
    frames.iter().filter(|f| f.method == method).collect()
}

fn closed_for<'a>(frames: &'a [Recorded], id: &str) -> Vec<&'a Recorded> {
    of(frames, "STREAM-CLOSED").into_iter().filter(|f| f.param("Stream-ID") == Some(id)).collect()
}

fn available_for<'a>(frames: &'a [Recorded], id: &str) -> Vec<&'a Recorded> {
    of(frames, "STREAM-AVAILABLE").into_iter().filter(|f| f.param("Stream-ID") == Some(id)).collect()
}

/// The fake coordinator and a worker with `env` (on top of the tests' defaults), registered.
async fn connected_worker(env: &[(&str, &str)]) -> (FakeCoordinator, Worker) {
    let fake = FakeCoordinator::start(SECRET, Duration::from_secs(20)).await;
    let worker = start_worker(&fake, env);
    let ok = fake.wait_for(Duration::from_secs(10), |f| !of(f, "REGISTER").is_empty()).await;
    assert!(ok, "the worker never registered; log:\n{}", worker.log());
    (fake, worker)
}

/// Waits until `count` indexes of stream `id` were announced.
async fn announced(fake: &FakeCoordinator, worker: &Worker, id: &str, count: usize) {
    let ok = fake.wait_for(Duration::from_secs(20), |f| available_for(f, id).len() >= count).await;
    assert!(ok, "{id}: fewer than {count} announcements; log:\n{}", worker.log());
}

/// The invariants of §13 that hold in every run, plus: the stream key never reaches the log.
fn assert_invariants(fake: &FakeCoordinator, worker: &Worker) {
    fake.assert_clean();
    let frames = fake.frames();
    for closed in of(&frames, "STREAM-CLOSED") {
        let id = closed.param("Stream-ID").unwrap();
        let late = available_for(&frames, id).into_iter().filter(|a| a.at > closed.at).count();
        assert_eq!(late, 0, "STREAM-AVAILABLE after STREAM-CLOSED of {id}");
    }
    for a in of(&frames, "STREAM-AVAILABLE") {
        let res = a.param("Resolution").unwrap();
        let valid = res.split(['x', '-', '~']).all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        assert!(valid, "Resolution {res:?}");
        let index = a.param("Index-file").unwrap();
        assert!(worker.storage().join(index).is_file(), "announced {index} does not exist");
    }
    let log = worker.log();
    assert!(!log.contains(KEY), "the stream key leaked into the log:\n{log}");
}

/// Every segment a playlist lists exists; returns the listed numbers.
fn listed_numbers(playlist: &Path) -> Vec<u64> {
    let (entries, _) = playlist_entries(playlist);
    entries
        .iter()
        .map(|(_, uri)| {
            assert!(playlist.with_file_name(uri).is_file(), "{} lists missing {uri}", playlist.display());
            uri.trim_end_matches(".ts").parse().unwrap()
        })
        .collect()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_job_announces_each_index_once_then_closes_after_the_publisher_leaves() {
    let nginx = Nginx::start(&["c1"]);
    let (fake, worker) = connected_worker(&[]).await;
    assert_eq!(fake.frames()[0].text, "REGISTER\nCapacity:-1\n");
    let attempt = &fake.attempts()[0];
    let claims = attempt.claims.as_ref().unwrap();
    assert!(claims.get("iat").is_some() && claims.get("exp").is_some() && claims.get("nbf").is_none());

    let uri = nginx.url("c1", KEY);
    fake.send_text(&encode_start("c1", ID, &uri, "ORIGINAL,320x180-30", true, "160x90,1"));
    let publisher = RtmpPublisher::start(&uri, "size=640x360:rate=30", true, 5);
    let ok = fake.wait_for(Duration::from_secs(40), |f| !closed_for(f, ID).is_empty()).await;
    assert!(ok, "no STREAM-CLOSED; frames: {:#?}\nlog:\n{}", fake.frames(), worker.log());
    assert!(publisher.wait());

    let frames = fake.frames();
    let closed = closed_for(&frames, ID);
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].text, format!("STREAM-CLOSED\nStream-Channel:c1\nStream-ID:{ID}\n"), "a clean end");
    let mut announced: Vec<(String, String, String)> = available_for(&frames, ID)
        .iter()
        .map(|a| {
            assert_eq!(a.param("Start-Time"), None, "vod-0, live and previews carry no Start-Time");
            let p = |n| a.param(n).unwrap().to_string();
            (p("Stream-Type"), p("Resolution"), p("Index-file"))
        })
        .collect();
    announced.sort();
    let base = format!("hls/c1/{ID}");
    let want = |t: &str, r: &str, f: String| (t.to_string(), r.to_string(), f);
    assert_eq!(
        announced,
        vec![
            want("HLS-LIVE", "320x180-30", format!("{base}/320x180-30/live.m3u8")),
            want("HLS-LIVE", "640x360-30", format!("{base}/640x360-30/live.m3u8")),
            want("HLS-VOD", "320x180-30", format!("{base}/320x180-30/vod-0.m3u8")),
            want("HLS-VOD", "640x360-30", format!("{base}/640x360-30/vod-0.m3u8")),
            want("IMG-PREVIEW", "160x90-1", format!("img-preview/c1/{ID}/160x90-1/index.json")),
        ]
    );
    assert_invariants(&fake, &worker);

    let storage = worker.storage();
    for label in ["640x360-30", "320x180-30"] {
        let live = storage.join(format!("{base}/{label}/live.m3u8"));
        assert!(read(&live).ends_with("#EXT-X-ENDLIST\n"), "{}", read(&live));
        let vod = storage.join(format!("{base}/{label}/vod-0.m3u8"));
        let text = read(&vod);
        assert!(text.contains("#EXT-X-PLAYLIST-TYPE:VOD\n") && text.ends_with("#EXT-X-ENDLIST\n"), "{text}");
        let numbers = listed_numbers(&vod);
        assert!(numbers.len() >= 3, "{text}");
        assert_eq!(numbers, (0..numbers.len() as u64).collect::<Vec<_>>(), "every segment from 0.ts");
    }
    let master = read(&storage.join(format!("{base}/master.m3u8")));
    assert!(master.contains("640x360-30/live.m3u8") && master.contains("320x180-30/live.m3u8"), "{master}");
    let index = read(&storage.join(format!("img-preview/c1/{ID}/160x90-1/index.json")));
    let count: u64 = index.split("\"count\":").nth(1).unwrap().split(',').next().unwrap().parse().unwrap();
    assert!(count >= 3, "{index}");
    drop(nginx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_pipeline_is_restarted_and_numbering_continues_without_losing_a_segment() {
    killed_pipeline_resumes(&[], "320x180-30", 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_original_mode_set_a_killed_pipeline_passing_original_through_resumes_numbering_and_timeline() {
    // HLS_ORIGINAL_MODE unset: the shipped default, `auto`, copies this H.264 publisher.
    let worker = killed_pipeline_resumes(&[("HLS_ORIGINAL_MODE", "")], "ORIGINAL,160x90-30", 4).await;
    let log = worker.log();
    assert!(log.matches("original=\"copied\"").count() >= 2, "both runs copy ORIGINAL:\n{log}");
}

/// Kills the transcode child of a recorded job mid-stream: the restarted run continues the
/// numbering, the playlists and the media timeline. `announcements`: HLS-LIVE and HLS-VOD
/// of every rendition. The recording checked is that of the first rendition, 320x180-30.
async fn killed_pipeline_resumes(env: &[(&str, &str)], resolutions: &str, announcements: usize) -> Worker {
    let nginx = Nginx::start(&["c1"]);
    let (fake, worker) = connected_worker(env).await;
    let uri = nginx.url("c1", KEY);
    fake.send_text(&encode_start("c1", ID, &uri, resolutions, true, "False"));
    let publisher = RtmpPublisher::start(&uri, "size=320x180:rate=30", true, 16);
    let live = worker.storage().join(format!("hls/c1/{ID}/320x180-30/live.m3u8"));
    let vod = live.with_file_name("vod-0.m3u8");
    announced(&fake, &worker, ID, announcements).await;
    // Let a few segments be published, then crash the pipeline as a segfault would.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = listed_numbers(&vod);
    let pids = worker.transcode_pids();
    assert_eq!(pids.len(), 1, "one transcode child per job");
    // SAFETY: kills the worker's child process.
    unsafe { libc::kill(pids[0], libc::SIGKILL) };

    let ok = fake.wait_for(Duration::from_secs(40), |f| !closed_for(f, ID).is_empty()).await;
    assert!(ok, "no STREAM-CLOSED; log:\n{}", worker.log());
    assert!(publisher.wait());
    let frames = fake.frames();
    assert_eq!(closed_for(&frames, ID)[0].param("Error-Code"), None, "the stream ended normally");
    assert_eq!(available_for(&frames, ID).len(), announcements, "HLS-LIVE and HLS-VOD once each, across the restart");
    assert_invariants(&fake, &worker);

    let after = listed_numbers(&vod);
    assert!(after.starts_with(&before), "segments published before the crash are kept: {before:?} then {after:?}");
    assert!(after.windows(2).all(|w| w[0] < w[1]), "numbers only increase: {after:?}");
    assert!(after.len() > before.len() + 2, "the restarted run published more: {after:?}");
    let text = read(&vod);
    let seam = text.find("#EXT-X-DISCONTINUITY").unwrap_or_else(|| panic!("no discontinuity:\n{text}"));
    let first_new = after[before.len()..].iter().find(|n| text[seam..].contains(&format!("\n{n}.ts"))).unwrap();
    assert!(*first_new > *before.last().unwrap(), "{text}");
    assert!(read(&live).ends_with("#EXT-X-ENDLIST\n"));
    assert!(worker.log().contains("restarting the pipeline"), "{}", worker.log());

    // The recording plays straight through the seam: what users do with it works.
    let mp4 = worker.storage().join("recording.mp4");
    let (converted, warnings) = util::to_mp4(&vod, &mp4);
    assert!(converted, "{warnings}");
    assert!(!warnings.contains("monoton"), "timestamps go back across the seam:\n{warnings}");
    let master = worker.storage().join(format!("hls/c1/{ID}/master-vod-0.m3u8"));
    let (played, errors) = util::play(&master);
    assert!(played && errors.is_empty(), "{errors}");
    let (entries, _) = playlist_entries(&vod);
    let listed: f64 = entries.iter().map(|(d, _)| d).sum();
    // The video track (the EXTINFs time the video; the audio may run one AAC frame past it).
    let probe = util::ffprobe(&mp4, &["-select_streams", "v:0", "-show_entries", "stream=duration"]);
    let duration: f64 = probe["streams"][0]["duration"].as_str().unwrap().parse().unwrap();
    assert!((duration - listed).abs() <= 1.0 / 30.0 + 0.001, "MP4 video {duration} s, EXTINF sum {listed} s");
    drop(nginx);
    worker
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encode_stop_with_a_grace_period_finishes_the_playlists_while_the_publisher_goes_on() {
    let nginx = Nginx::start(&["c1"]);
    let (fake, worker) = connected_worker(&[]).await;
    let uri = nginx.url("c1", KEY);
    fake.send_text(&encode_start("c1", ID, &uri, "320x180-30", false, "False"));
    let _publisher = RtmpPublisher::start(&uri, "size=320x180:rate=30", false, 60);
    announced(&fake, &worker, ID, 1).await;

    let stop_sent = tokio::time::Instant::now();
    fake.send_text(&format!("ENCODE-STOP\nStream-Channel:c1\nStream-ID:{ID}\nGrace-Period:2\n"));
    let ok = fake.wait_for(Duration::from_secs(15), |f| !closed_for(f, ID).is_empty()).await;
    assert!(ok, "no STREAM-CLOSED; log:\n{}", worker.log());
    let took = closed_for(&fake.frames(), ID)[0].at - stop_sent;
    assert!(took >= Duration::from_millis(1800), "the grace period was not honoured: {took:?}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let live = worker.storage().join(format!("hls/c1/{ID}/320x180-30/live.m3u8"));
    assert!(read(&live).ends_with("#EXT-X-ENDLIST\n"), "{}", read(&live));
    listed_numbers(&live);
    assert_invariants(&fake, &worker);
    drop(nginx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_is_enforced_locally_and_re_registered_as_jobs_come_and_go() {
    let nginx = Nginx::start(&["c1", "c2"]);
    let (fake, worker) = connected_worker(&[("SERVER_CAPACITY", "1")]).await;
    assert_eq!(fake.frames()[0].text, "REGISTER\nCapacity:1\n");
    // Job A waits for a publisher that never comes.
    fake.send_text(&encode_start("c1", ID, &nginx.url("c1", KEY), "", false, "False"));
    let ok = fake.wait_for(Duration::from_secs(5), |f| f.iter().any(|r| r.text == "REGISTER\nCapacity:0\n")).await;
    assert!(ok, "{:#?}", fake.frames());
    fake.send_text(&encode_start("c2", ID2, &nginx.url("c2", KEY), "", false, "False"));
    let ok = fake.wait_for(Duration::from_secs(5), |f| !closed_for(f, ID2).is_empty()).await;
    assert!(ok, "{:#?}", fake.frames());
    assert_eq!(closed_for(&fake.frames(), ID2)[0].param("Error-Code"), Some("OVER_CAPACITY"));
    // The same ENCODE-START again is a duplicate: no second job, no second STREAM-CLOSED.
    fake.send_text(&encode_start("c1", ID, &nginx.url("c1", KEY), "", false, "False"));
    // A stop before the source published ends job A at once; then there is room again.
    fake.send_text(&format!("ENCODE-STOP\nStream-Channel:c1\nStream-ID:{ID}\n"));
    let ok =
        fake.wait_for(Duration::from_secs(5), |f| f.last().is_some_and(|r| r.text == "REGISTER\nCapacity:1\n")).await;
    assert!(ok, "{:#?}", fake.frames());
    let frames = fake.frames();
    assert_eq!(closed_for(&frames, ID).len(), 1);
    assert!(available_for(&frames, ID).is_empty());
    assert!(util::tree(&worker.storage()).is_empty(), "nothing written");
    assert_invariants(&fake, &worker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_and_bad_sources_are_closed_with_an_error_and_touch_no_storage() {
    let (fake, worker) = connected_worker(&[]).await;
    let port = util::free_port();
    let refused = format!("rtmp://127.0.0.1:{port}/c1/{KEY}");
    fake.send_text("FOO\nStream-Channel:c1\n");
    fake.send_text(&encode_start("../x", ID, &refused, "", false, "False"));
    fake.send_text(&encode_start("c1", "a/b", &refused, "", false, "False"));
    fake.send_text(&encode_start("c1", ID2, &refused, "", false, "False").replace("Type:RTMP", "Type:FOO"));
    fake.send_text(
        &encode_start("c1", ID, &refused, "", false, "False").to_lowercase().replace("encode-start", "Encode-Start"),
    );
    let ok = fake.wait_for(Duration::from_secs(10), |f| of(f, "STREAM-CLOSED").len() == 4).await;
    assert!(ok, "{:#?}\nlog:\n{}", fake.frames(), worker.log());
    let frames = fake.frames();
    let code = |id: &str| closed_for(&frames, id)[0].param("Error-Code").unwrap().to_string();
    assert_eq!(code(ID2), "BAD_JOB");
    let bad = |ch: &str, id: &str| {
        of(&frames, "STREAM-CLOSED").iter().any(|f| {
            f.param("Stream-Channel") == Some(ch)
                && f.param("Stream-ID") == Some(id)
                && f.param("Error-Code") == Some("BAD_JOB")
        })
    };
    assert!(bad("../x", ID) && bad("c1", "a/b"), "{frames:#?}");
    // Lower-cased parameter names are the same parameters; the refused port is SOURCE_UNREACHABLE.
    let unreachable = of(&frames, "STREAM-CLOSED")
        .into_iter()
        .find(|f| f.param("Stream-Channel") == Some("c1") && f.param("Stream-ID") == Some(ID));
    assert_eq!(unreachable.unwrap().param("Error-Code"), Some("SOURCE_UNREACHABLE"));
    assert!(of(&frames, "STREAM-AVAILABLE").is_empty());
    assert!(util::tree(&worker.storage()).is_empty(), "{:?}", util::tree(&worker.storage()));
    assert!(util::tree(worker.dir.path()).iter().all(|f| f == "worker.log"), "nothing outside storage either");
    assert_invariants(&fake, &worker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_closed_produced_while_disconnected_is_delivered_after_register() {
    let nginx = Nginx::start(&["c1"]);
    let (fake, worker) = connected_worker(&[]).await;
    let uri = nginx.url("c1", KEY);
    fake.send_text(&encode_start("c1", ID, &uri, "320x180-30", false, "False"));
    let publisher = RtmpPublisher::start(&uri, "size=320x180:rate=30", false, 5);
    announced(&fake, &worker, ID, 1).await;
    // The coordinator goes away while the stream ends.
    fake.set_refusing(true);
    fake.drop_link();
    assert!(tokio::task::spawn_blocking(move || publisher.wait()).await.unwrap());
    let live = worker.storage().join(format!("hls/c1/{ID}/320x180-30/live.m3u8"));
    for _ in 0..100 {
        if std::fs::read_to_string(&live).is_ok_and(|t| t.ends_with("#EXT-X-ENDLIST\n")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(read(&live).ends_with("#EXT-X-ENDLIST\n"), "the job ran on while disconnected");
    assert!(closed_for(&fake.frames(), ID).is_empty());
    fake.set_refusing(false);
    let ok = fake.wait_for(Duration::from_secs(15), |f| !closed_for(f, ID).is_empty()).await;
    assert!(ok, "STREAM-CLOSED never delivered; log:\n{}", worker.log());
    let frames = fake.frames();
    let conn = closed_for(&frames, ID)[0].conn;
    assert!(conn > 0);
    let on_new: Vec<&str> = frames.iter().filter(|f| f.conn == conn).map(|f| f.method.as_str()).collect();
    assert_eq!(&on_new[..2], ["REGISTER", "STREAM-CLOSED"], "REGISTER first, then the queue");
    assert_invariants(&fake, &worker);
    drop(nginx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_registers_zero_stops_the_running_job_after_the_timeout_and_exits_zero() {
    let nginx = Nginx::start(&["c1"]);
    let (fake, mut worker) = connected_worker(&[("HLS_SHUTDOWN_TIMEOUT_SECONDS", "2")]).await;
    let uri = nginx.url("c1", KEY);
    fake.send_text(&encode_start("c1", ID, &uri, "320x180-30", false, "False"));
    let _publisher = RtmpPublisher::start(&uri, "size=320x180:rate=30", false, 60);
    announced(&fake, &worker, ID, 1).await;

    worker.signal(libc::SIGTERM);
    let ok =
        fake.wait_for(Duration::from_secs(5), |f| f.last().is_some_and(|r| r.text == "REGISTER\nCapacity:0\n")).await;
    assert!(ok, "{:#?}", fake.frames());
    let code = tokio::task::spawn_blocking(move || {
        let code = worker.wait_exit(Duration::from_secs(20));
        (code, worker)
    })
    .await
    .unwrap();
    let (code, worker) = code;
    assert_eq!(code, Some(0), "log:\n{}", worker.log());
    let frames = fake.frames();
    assert_eq!(closed_for(&frames, ID)[0].param("Error-Code"), Some("SHUTDOWN"));
    let live = worker.storage().join(format!("hls/c1/{ID}/320x180-30/live.m3u8"));
    assert!(read(&live).ends_with("#EXT-X-ENDLIST\n"), "{}", read(&live));
    assert!(worker.transcode_pids().is_empty());
    assert_invariants(&fake, &worker);
    drop(nginx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ws_source_is_read_from_its_cache_and_transcoded_until_the_server_closes() {
    let media = tempfile::tempdir().unwrap();
    let ts = media.path().join("source.ts");
    make_media(
        &ts,
        &["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-f", "lavfi", "-i", "sine=frequency=440"]
            .into_iter()
            .chain(["-t", "5", "-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-c:a", "aac", "-f", "mpegts"])
            .collect::<Vec<_>>(),
    );
    let ingest = WsIngest::start("c1", KEY, std::fs::read(&ts).unwrap(), 4.0).await;
    let (fake, worker) = connected_worker(&[]).await;
    let ws_job = |id: &str, key: &str| {
        encode_start("c1", id, &ingest.uri("c1", key), "1280x720-30,320x180-30", false, "False")
            .replace("Type:RTMP", "Type:WS")
    };
    // A third server accepts the key and never sends a byte.
    let silent = WsIngest::start("c1", KEY, Vec::new(), 120.0).await;
    const ID3: &str = "0000018f4a2b3c4d00000009c1b2c3d4";
    let sent = tokio::time::Instant::now();
    fake.send_text(&ws_job(ID, KEY));
    fake.send_text(&ws_job(ID2, "wrongkey"));
    let silent_job =
        encode_start("c1", ID3, &silent.uri("c1", KEY), "", false, "False").replace("Type:RTMP", "Type:WS");
    fake.send_text(&silent_job);
    let ok = fake.wait_for(Duration::from_secs(40), |f| of(f, "STREAM-CLOSED").len() == 3).await;
    assert!(ok, "{:#?}\nlog:\n{}", fake.frames(), worker.log());

    let frames = fake.frames();
    let refused = closed_for(&frames, ID2)[0];
    assert_eq!(refused.param("Error-Code"), Some("SOURCE_UNREACHABLE"), "{}\n{}", refused.text, worker.log());
    assert!(refused.param("Error-Message").unwrap().contains("Invalid streaming key"), "{}", refused.text);
    assert!(!refused.text.contains("wrongkey"), "{}", refused.text);
    assert!(available_for(&frames, ID2).is_empty());

    // HLS_SOURCE_TIMEOUT_SECONDS=10 in these tests.
    let timed_out = closed_for(&frames, ID3)[0];
    assert_eq!(timed_out.param("Error-Code"), Some("SOURCE_TIMEOUT"), "{}", timed_out.text);
    let took = timed_out.at - sent;
    assert!(took >= Duration::from_secs(9) && took < Duration::from_secs(20), "{took:?}");
    assert!(available_for(&frames, ID3).is_empty());

    assert_eq!(closed_for(&frames, ID)[0].param("Error-Code"), None);
    let mut live: Vec<_> =
        available_for(&frames, ID).iter().map(|a| a.param("Index-file").unwrap().to_string()).collect();
    live.sort();
    // 1280x720 is larger than the 640x360 source: dropped by the fitting rules.
    assert_eq!(live, [format!("hls/c1/{ID}/320x180-30/live.m3u8")]);
    let playlist = worker.storage().join(&live[0]);
    assert!(read(&playlist).ends_with("#EXT-X-ENDLIST\n"));
    let numbers = listed_numbers(&playlist);
    assert!(numbers.len() >= 4, "5 s of media in 1 s segments: {numbers:?}");
    assert!(ingest.paths().contains(&format!("/c1/{KEY}/receive-clear-cache")), "{:?}", ingest.paths());
    assert!(ingest.texts().iter().any(|t| t == "h"), "the worker sends h on connect: {:?}", ingest.texts());
    // The bare TCP close that ends a publish is the end of the stream, not a warning.
    let log = worker.log();
    assert!(log.contains("websocket source closed: end of stream"), "{log}");
    assert!(!log.contains("without closing handshake"), "{log}");
    assert_invariants(&fake, &worker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_pipeline_is_detected_as_stalled_killed_and_restarted() {
    let nginx = Nginx::start(&["c1"]);
    let (fake, worker) = connected_worker(&[("HLS_STALL_TIMEOUT_SECONDS", "3")]).await;
    let uri = nginx.url("c1", KEY);
    fake.send_text(&encode_start("c1", ID, &uri, "320x180-30", true, "False"));
    let publisher = RtmpPublisher::start(&uri, "size=320x180:rate=30", false, 14);
    announced(&fake, &worker, ID, 2).await;
    let pids = worker.transcode_pids();
    assert_eq!(pids.len(), 1);
    // SAFETY: freezes the worker's child process, as a hang inside native code would.
    unsafe { libc::kill(pids[0], libc::SIGSTOP) };

    let ok = fake.wait_for(Duration::from_secs(40), |f| !closed_for(f, ID).is_empty()).await;
    assert!(ok, "no STREAM-CLOSED; log:\n{}", worker.log());
    assert!(publisher.wait());
    let log = worker.log();
    assert!(log.contains("pipeline stalled"), "{log}");
    assert!(log.contains("restarting the pipeline"), "{log}");
    let frames = fake.frames();
    assert_eq!(closed_for(&frames, ID)[0].param("Error-Code"), None);
    assert_eq!(available_for(&frames, ID).len(), 2, "nothing announced twice");
    let vod = worker.storage().join(format!("hls/c1/{ID}/320x180-30/vod-0.m3u8"));
    let numbers = listed_numbers(&vod);
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
    assert!(read(&vod).contains("#EXT-X-DISCONTINUITY"), "{}", read(&vod));
    assert_invariants(&fake, &worker);
    drop(nginx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encode_stop_with_an_empty_stream_id_stops_every_job_of_the_channel() {
    let nginx = Nginx::start(&["c1", "c2"]);
    let (fake, worker) = connected_worker(&[("HLS_STOP_GRACE_SECONDS", "1")]).await;
    // Two jobs of c1 (different keys on the same ingest application) and one of c2.
    let (a, b, other) = (nginx.url("c1", "keya"), nginx.url("c1", "keyb"), nginx.url("c2", "keyc"));
    const ID3: &str = "0000018f4a2b3c4d00000009c1b2c3d4";
    fake.send_text(&encode_start("c1", ID, &a, "320x180-30", false, "False"));
    fake.send_text(&encode_start("c1", ID2, &b, "320x180-30", false, "False"));
    fake.send_text(&encode_start("c2", ID3, &other, "320x180-30", false, "False"));
    let _publishers: Vec<RtmpPublisher> =
        [&a, &b, &other].iter().map(|u| RtmpPublisher::start(u, "size=320x180:rate=30", false, 60)).collect();
    let ok = fake.wait_for(Duration::from_secs(30), |f| of(f, "STREAM-AVAILABLE").len() == 3).await;
    assert!(ok, "{:#?}\nlog:\n{}", fake.frames(), worker.log());

    fake.send_text("ENCODE-STOP\nStream-Channel:c1\nStream-ID:\n");
    let ok = fake.wait_for(Duration::from_secs(15), |f| of(f, "STREAM-CLOSED").len() == 2).await;
    assert!(ok, "{:#?}\nlog:\n{}", fake.frames(), worker.log());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let frames = fake.frames();
    assert_eq!(closed_for(&frames, ID).len() + closed_for(&frames, ID2).len(), 2);
    assert!(closed_for(&frames, ID3).is_empty(), "the other channel runs on");
    for id in [ID, ID2] {
        let live = worker.storage().join(format!("hls/c1/{id}/320x180-30/live.m3u8"));
        assert!(read(&live).ends_with("#EXT-X-ENDLIST\n"));
    }
    assert_invariants(&fake, &worker);
    drop(nginx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_parts_carry_start_times_and_the_fragment_limit_ends_the_stream() {
    let nginx = Nginx::start(&["c1"]);
    let (fake, worker) = connected_worker(&[("HLS_VOD_MAX_SIZE", "2"), ("HLS_FRAGMENT_COUNT_LIMIT", "5")]).await;
    let uri = nginx.url("c1", KEY);
    fake.send_text(&encode_start("c1", ID, &uri, "320x180-30", true, "False"));
    let _publisher = RtmpPublisher::start(&uri, "size=320x180:rate=30", true, 60);
    let ok = fake.wait_for(Duration::from_secs(30), |f| !closed_for(f, ID).is_empty()).await;
    assert!(ok, "no STREAM-CLOSED; log:\n{}", worker.log());
    let frames = fake.frames();
    assert_eq!(closed_for(&frames, ID)[0].param("Error-Code"), Some("FRAGMENT_LIMIT"));
    let vod: Vec<(String, Option<String>)> = available_for(&frames, ID)
        .iter()
        .filter(|a| a.param("Stream-Type") == Some("HLS-VOD"))
        .map(|a| (a.param("Index-file").unwrap().to_string(), a.param("Start-Time").map(str::to_string)))
        .collect();
    let dir = format!("hls/c1/{ID}/320x180-30");
    assert_eq!(
        vod,
        [
            (format!("{dir}/vod-0.m3u8"), None),
            (format!("{dir}/vod-1.m3u8"), Some("2".to_string())),
            (format!("{dir}/vod-2.m3u8"), Some("4".to_string())),
        ],
        "1 s segments: part K starts at 2K s"
    );
    let storage = worker.storage();
    let parts: Vec<Vec<u64>> = (0..3).map(|k| listed_numbers(&storage.join(format!("{dir}/vod-{k}.m3u8")))).collect();
    assert_eq!(parts, [vec![0, 1], vec![2, 3], vec![4]]);
    for k in 0..3 {
        let text = read(&storage.join(format!("{dir}/vod-{k}.m3u8")));
        assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:0\n") && text.ends_with("#EXT-X-ENDLIST\n"), "{text}");
    }
    let live = read(&storage.join(format!("{dir}/live.m3u8")));
    assert!(live.ends_with("4.ts\n#EXT-X-ENDLIST\n"), "{live}");
    assert!(!storage.join(format!("{dir}/5.ts")).exists(), "nothing past the limit");
    assert_invariants(&fake, &worker);
    drop(nginx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_segment_put_over_http_is_retried_and_playlists_never_list_what_is_not_stored() {
    let nginx = Nginx::start(&["c1"]);
    let server = storage_server::Server::start().await;
    let dir = format!("hls/c1/{ID}/320x180-30");
    server.script(&format!("/store/{dir}/2.ts"), &[storage_server::Reply::Status(500)]);
    let url = server.url("/store");
    let env = [("HLS_STORAGE_TYPE", "HTTP"), ("HLS_STORAGE_HTTP_URL", url.as_str())];
    let (fake, worker) = connected_worker(&env).await;
    let uri = nginx.url("c1", KEY);
    fake.send_text(&encode_start("c1", ID, &uri, "320x180-30", true, "False"));
    let publisher = RtmpPublisher::start(&uri, "size=320x180:rate=30", false, 6);
    let ok = fake.wait_for(Duration::from_secs(40), |f| !closed_for(f, ID).is_empty()).await;
    assert!(ok, "no STREAM-CLOSED; log:\n{}", worker.log());
    assert!(publisher.wait());
    fake.assert_clean();
    assert!(util::tree(&worker.storage()).is_empty(), "nothing on the local disk");

    // Replay the server's log in order: a playlist may list a segment only after the
    // segment's PUT succeeded (the scripted first PUT of 2.ts did not).
    let mut stored = std::collections::HashSet::new();
    let mut failed_once = false;
    for req in server.log().iter().filter(|r| r.method == "PUT") {
        let path = req.path.trim_start_matches("/store/").to_string();
        if path == format!("{dir}/2.ts") && !failed_once {
            failed_once = true;
            continue;
        }
        if path.ends_with(".m3u8") && !path.contains("master") {
            for uri in String::from_utf8_lossy(&req.body).lines().filter(|l| l.ends_with(".ts")) {
                let segment = format!("{dir}/{uri}");
                assert!(stored.contains(&segment), "{path} listed {uri} before it was stored");
            }
        }
        stored.insert(path);
    }
    assert!(failed_once, "the 500 was served");
    let vod = String::from_utf8(server.object(&format!("/store/{dir}/vod-0.m3u8")).unwrap().to_vec()).unwrap();
    let listed: Vec<u64> = vod.lines().filter_map(|l| l.strip_suffix(".ts")).map(|n| n.parse().unwrap()).collect();
    assert!(listed.len() >= 4, "{vod}");
    assert_eq!(listed, (0..listed.len() as u64).collect::<Vec<_>>(), "no gap: 2.ts was retried\n{vod}");
    assert!(!vod.contains("DISCONTINUITY"), "{vod}");
    for a in available_for(&fake.frames(), ID) {
        let index = a.param("Index-file").unwrap();
        assert!(server.object(&format!("/store/{index}")).is_some(), "announced {index} is not stored");
    }
    drop(nginx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_closed_is_not_held_back_by_storage_that_hangs_at_the_end() {
    let nginx = Nginx::start(&["c1"]);
    let server = storage_server::Server::start().await;
    let url = server.url("/store");
    let env =
        [("HLS_STORAGE_TYPE", "HTTP"), ("HLS_STORAGE_HTTP_URL", url.as_str()), ("HLS_FINALIZE_TIMEOUT_SECONDS", "2")];
    let (fake, worker) = connected_worker(&env).await;
    let uri = nginx.url("c1", KEY);
    fake.send_text(&encode_start("c1", ID, &uri, "320x180-30", false, "False"));
    let publisher = RtmpPublisher::start(&uri, "size=320x180:rate=30", false, 4);
    announced(&fake, &worker, ID, 1).await;
    assert!(tokio::task::spawn_blocking(move || publisher.wait()).await.unwrap());
    // The publisher left: the worker's last uploads (final playlists) now hang for 60 s.
    server.stall_everything(Duration::from_secs(60));
    let eof = tokio::time::Instant::now();
    let ok = fake.wait_for(Duration::from_secs(20), |f| !closed_for(f, ID).is_empty()).await;
    assert!(ok, "STREAM-CLOSED held back by storage; log:\n{}", worker.log());
    let took = closed_for(&fake.frames(), ID)[0].at - eof;
    // EOF reaches the worker within a second or two, then at most the finalize timeout.
    assert!(took < Duration::from_secs(7), "took {took:?}; log:\n{}", worker.log());
    assert!(worker.log().contains("closing the stream without them"), "{}", worker.log());
    fake.assert_clean();
    drop(nginx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_that_keeps_crashing_ends_with_pipeline_failed_once_the_budget_is_spent() {
    let nginx = Nginx::start(&["c1"]);
    let (fake, worker) = connected_worker(&[("HLS_RESTART_MAX", "1")]).await;
    let uri = nginx.url("c1", KEY);
    fake.send_text(&encode_start("c1", ID, &uri, "320x180-30", false, "False"));
    let _publisher = RtmpPublisher::start(&uri, "size=320x180:rate=30", false, 60);
    announced(&fake, &worker, ID, 1).await;
    let kill_child = |pids: Vec<i32>| {
        assert_eq!(pids.len(), 1, "one transcode child per job");
        // SAFETY: kills the worker's child process.
        unsafe { libc::kill(pids[0], libc::SIGKILL) };
    };
    kill_child(worker.transcode_pids());
    // The one restart allowed comes after 1 s; kill that run too once it is up.
    let first = worker.transcode_pids();
    for _ in 0..100 {
        if !worker.transcode_pids().is_empty() && worker.transcode_pids() != first {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    kill_child(worker.transcode_pids());
    let ok = fake.wait_for(Duration::from_secs(15), |f| !closed_for(f, ID).is_empty()).await;
    assert!(ok, "no STREAM-CLOSED; log:\n{}", worker.log());
    let closed = closed_for(&fake.frames(), ID)[0].clone();
    assert_eq!(closed.param("Error-Code"), Some("PIPELINE_FAILED"), "{}", closed.text);
    let message = closed.param("Error-Message").unwrap();
    assert!(message.contains("restarts"), "{}", closed.text);
    // The operator learns what the last run said, without the stream key.
    assert!(message.contains("its log ended: "), "{}", closed.text);
    assert!(!message.contains(KEY), "{}", closed.text);
    assert_eq!(available_for(&fake.frames(), ID).len(), 1, "HLS-LIVE once across both runs");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(worker.transcode_pids().is_empty(), "no third run");
    assert_invariants(&fake, &worker);
    drop(nginx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_superseded_streams_close_waits_for_the_newer_stream_of_the_channel() {
    let nginx = Nginx::start(&["c1"]);
    let (fake, worker) = connected_worker(&[]).await;
    let (old_uri, new_uri) = (nginx.url("c1", "oldkey"), nginx.url("c1", "newkey"));
    fake.send_text(&encode_start("c1", ID, &old_uri, "320x180-30", false, "False"));
    let old = RtmpPublisher::start(&old_uri, "size=320x180:rate=30", false, 4);
    announced(&fake, &worker, ID, 1).await;
    // The publisher reconnects as a new broadcast while the old job is still open.
    fake.send_text(&encode_start("c1", ID2, &new_uri, "320x180-30", false, "False"));
    let new = RtmpPublisher::start(&new_uri, "size=320x180:rate=30", false, 8);
    assert!(tokio::task::spawn_blocking(move || old.wait()).await.unwrap());
    // The old stream has ended, but its STREAM-CLOSED would kill the new broadcast: held.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let old_live = worker.storage().join(format!("hls/c1/{ID}/320x180-30/live.m3u8"));
    assert!(read(&old_live).ends_with("#EXT-X-ENDLIST\n"), "the old job finished");
    assert!(closed_for(&fake.frames(), ID).is_empty(), "held while the newer stream runs");
    assert!(tokio::task::spawn_blocking(move || new.wait()).await.unwrap());
    let ok = fake.wait_for(Duration::from_secs(15), |f| !closed_for(f, ID2).is_empty()).await;
    assert!(ok, "no STREAM-CLOSED for the new stream; log:\n{}", worker.log());
    let frames = fake.frames();
    let closes: Vec<&str> = of(&frames, "STREAM-CLOSED").iter().map(|f| f.param("Stream-ID").unwrap()).collect();
    assert_eq!(closes, [ID, ID2], "the held close goes just before the newer one");
    assert_invariants(&fake, &worker);
    drop(nginx);
}

/// One metric family as the reference parser (prometheus_client, PyPI) read it.
#[derive(Debug, serde::Deserialize)]
struct Family {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    samples: Vec<Sample>,
}

#[derive(Debug, serde::Deserialize)]
struct Sample {
    name: String,
    labels: std::collections::HashMap<String, String>,
    value: f64,
}

/// Scrapes `/metrics` and parses it with the independent parser (tests/metrics/parse.py).
async fn scrape(addr: &str) -> Vec<Family> {
    let response = reqwest::get(format!("http://{addr}/metrics")).await.unwrap();
    let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    let text = response.text().await.unwrap();
    let mut parser = Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/metrics/parse.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 (scripts/test.sh puts target/venv/bin first on PATH)");
    use std::io::Write as _;
    parser.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = parser.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the reference parser refused the exposition:\n{}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The value of the sample `name` whose labels include `labels`, if there is one.
fn value(families: &[Family], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    families.iter().flat_map(|f| &f.samples).find_map(|s| {
        let matches = s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v));
        matches.then_some(s.value)
    })
}

async fn http_status(addr: &str, path: &str) -> (u16, String) {
    let response = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_follow_a_real_job_and_readiness_follows_the_coordinator() {
    let nginx = Nginx::start(&["c1"]);
    let addr = format!("127.0.0.1:{}", util::free_port());
    // Nothing is shed while the figures are read, even on a machine too busy for this job.
    let env = [("METRICS_ADDR", addr.as_str()), ("SERVER_CAPACITY", "3"), ("HLS_OVERLOAD_SECONDS", "3600")];
    let (fake, worker) = connected_worker(&env).await;
    assert_eq!(http_status(&addr, "/healthz").await.0, 200);
    let ready = async || http_status(&addr, "/readyz").await;
    let mut waited = 0;
    while ready().await.0 != 200 && waited < 50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    assert_eq!(ready().await.0, 200, "ready once registered; log:\n{}", worker.log());

    let uri = nginx.url("c1", KEY);
    fake.send_text(&encode_start("c1", ID, &uri, "640x360-30,320x180-30", true, "160x90,1"));
    let publisher = RtmpPublisher::start(&uri, "size=640x360:rate=30", true, 16);
    announced(&fake, &worker, ID, 2).await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let first = scrape(&addr).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let second = scrape(&addr).await;

    let families = [
        ("hls_ladder_control_connected", "gauge"),
        ("hls_ladder_control_reconnects", "counter"),
        ("hls_ladder_capacity", "gauge"),
        ("hls_ladder_jobs_running", "gauge"),
        ("hls_ladder_jobs_started", "counter"),
        ("hls_ladder_overloaded", "gauge"),
        ("hls_ladder_renditions_shed", "counter"),
        ("hls_ladder_jobs_closed", "counter"),
        ("hls_ladder_job_restarts", "counter"),
        ("hls_ladder_rendition_speed", "gauge"),
        ("hls_ladder_rendition_lag_seconds", "gauge"),
        ("hls_ladder_rendition_frames", "counter"),
        ("hls_ladder_segments_published", "counter"),
        ("hls_ladder_segments_skipped", "counter"),
        ("hls_ladder_segment_publish_seconds", "histogram"),
        ("hls_ladder_storage_requests", "counter"),
        ("hls_ladder_upload_queue_bytes", "gauge"),
        ("hls_ladder_previews", "counter"),
        ("hls_ladder_job_cpu_seconds", "counter"),
        ("hls_ladder_job_resident_memory_bytes", "gauge"),
        ("process_cpu_seconds", "counter"),
        ("process_resident_memory_bytes", "gauge"),
    ];
    for (name, kind) in families {
        let family = second.iter().find(|f| f.name == name);
        assert_eq!(family.map(|f| f.kind.as_str()), Some(kind), "{name}: {family:?}");
    }
    let stream = [("channel", "c1"), ("stream_id", ID)];
    assert_eq!(value(&second, "hls_ladder_control_connected", &[]), Some(1.0));
    assert_eq!(value(&second, "hls_ladder_jobs_running", &[]), Some(1.0));
    assert_eq!(value(&second, "hls_ladder_jobs_started_total", &[]), Some(1.0));
    // Beside other CPU-heavy work even this small job can fall behind (its reader starved):
    // the worker then rightly says so, capacity 0 and the speed below 1.
    let overloaded = value(&second, "hls_ladder_overloaded", &[]) == Some(1.0);
    let capacity = if overloaded { 0.0 } else { 2.0 };
    assert_eq!(value(&second, "hls_ladder_capacity", &[]), Some(capacity), "3 minus the running job, or overloaded");
    let rendition = [("channel", "c1"), ("stream_id", ID), ("rendition", "640x360-30")];
    let speed = value(&second, "hls_ladder_rendition_speed", &rendition).expect("speed");
    let slowest = if overloaded { 0.3 } else { 0.9 };
    assert!((slowest..1.6).contains(&speed), "a live source that keeps up runs at about 1x: {speed}");
    let lag = value(&second, "hls_ladder_rendition_lag_seconds", &rendition).expect("lag");
    assert!(lag > 0.0 && lag < 5.0, "{lag}");
    let increasing = [
        ("hls_ladder_segments_published_total", &stream[..]),
        ("hls_ladder_previews_total", &stream[..]),
        ("hls_ladder_job_cpu_seconds_total", &stream[..]),
        ("hls_ladder_storage_requests_total", &[("backend", "filesystem"), ("op", "put"), ("result", "ok")][..]),
    ];
    for (name, labels) in increasing {
        let (a, b) = (value(&first, name, labels), value(&second, name, labels));
        assert!(a.is_some_and(|a| b.is_some_and(|b| b > a)), "{name} must grow: {a:?} then {b:?}");
    }
    let encoded = [("channel", "c1"), ("stream_id", ID), ("rendition", "320x180-30"), ("kind", "encoded")];
    assert!(
        value(&second, "hls_ladder_rendition_frames_total", &encoded)
            > value(&first, "hls_ladder_rendition_frames_total", &encoded)
    );
    assert!(value(&second, "hls_ladder_job_resident_memory_bytes", &stream).is_some_and(|b| b > 10e6));
    assert!(value(&second, "hls_ladder_segment_publish_seconds_count", &[]).is_some_and(|n| n >= 5.0));

    assert!(publisher.wait());
    let ok = fake.wait_for(Duration::from_secs(30), |f| !closed_for(f, ID).is_empty()).await;
    assert!(ok, "no STREAM-CLOSED; log:\n{}", worker.log());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = scrape(&addr).await;
    let leftover: Vec<&Sample> =
        after.iter().flat_map(|f| &f.samples).filter(|s| s.labels.get("stream_id").is_some_and(|s| s == ID)).collect();
    assert!(leftover.is_empty(), "per-stream series outlive the stream: {leftover:?}");
    assert_eq!(value(&after, "hls_ladder_jobs_closed_total", &[("error_code", "none")]), Some(1.0));
    assert_eq!(value(&after, "hls_ladder_jobs_running", &[]), Some(0.0));

    // The coordinator goes away: not ready, and the link says so; it comes back: ready.
    fake.set_refusing(true);
    fake.drop_link();
    let mut waited = 0;
    while ready().await.0 != 503 && waited < 100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    let (status, body) = ready().await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("not registered"), "{body}");
    assert_eq!(value(&scrape(&addr).await, "hls_ladder_control_connected", &[]), Some(0.0));
    assert_eq!(http_status(&addr, "/healthz").await.0, 200, "alive without a coordinator");
    let connections = fake.connections();
    fake.set_refusing(false);
    let mut waited = 0;
    while (fake.connections() == connections || ready().await.0 != 200) && waited < 150 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    assert_eq!(ready().await.0, 200, "ready again after the link came back; log:\n{}", worker.log());
    assert!(value(&scrape(&addr).await, "hls_ladder_control_reconnects_total", &[]).is_some_and(|n| n >= 1.0));
    let health = Command::new(bin()).args(["health", "--addr", &addr]).output().unwrap();
    assert!(health.status.success(), "{}", String::from_utf8_lossy(&health.stderr));
    assert_invariants(&fake, &worker);
    drop(nginx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_of_stream_cleanup_deletes_a_live_streams_files_and_keeps_a_recording() {
    let nginx = Nginx::start(&["c1", "c2"]);
    let env = [("HLS_CLEANUP_AFTER_END", "YES"), ("HLS_CLEANUP_DELAY_SECONDS", "3"), ("HLS_LIVE_PLAYLIST_SIZE", "2")];
    let (fake, worker) = connected_worker(&env).await;
    let (live_uri, rec_uri) = (nginx.url("c1", KEY), nginx.url("c2", KEY));
    fake.send_text(&encode_start("c1", ID, &live_uri, "320x180-30", false, "160x90,1"));
    fake.send_text(&encode_start("c2", ID2, &rec_uri, "320x180-30", true, "False"));
    let live = RtmpPublisher::start(&live_uri, "size=320x180:rate=30", false, 6);
    let rec = RtmpPublisher::start(&rec_uri, "size=320x180:rate=30", false, 6);
    assert!(live.wait() && rec.wait());
    let ok = fake
        .wait_for(Duration::from_secs(30), |f| !closed_for(f, ID).is_empty() && !closed_for(f, ID2).is_empty())
        .await;
    assert!(ok, "no STREAM-CLOSED; log:\n{}", worker.log());
    let storage = worker.storage();
    let files_of = |dir: &str| util::tree(&storage.join(dir));
    // Within the delay, consumers still find everything.
    assert!(files_of(&format!("hls/c1/{ID}")).iter().any(|f| f.ends_with("live.m3u8")));
    assert!(!files_of(&format!("img-preview/c1/{ID}")).is_empty());
    let mut waited = 0;
    while !(files_of(&format!("hls/c1/{ID}")).is_empty() && files_of(&format!("img-preview/c1/{ID}")).is_empty()) {
        assert!(waited < 100, "not cleaned up: {:?}\n{}", files_of(&format!("hls/c1/{ID}")), worker.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    assert!(waited >= 15, "cleaned up before the delay ({waited} × 100 ms)");
    let recording = files_of(&format!("hls/c2/{ID2}"));
    assert!(recording.iter().any(|f| f.ends_with("vod-0.m3u8")), "a recording stays: {recording:?}");
    assert!(recording.iter().any(|f| f.ends_with("0.ts")), "{recording:?}");
    assert!(worker.log().contains("end-of-stream cleanup done"), "{}", worker.log());
    drop(nginx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_of_stream_cleanup_deletes_over_http_and_a_failed_delete_is_only_logged() {
    let nginx = Nginx::start(&["c1"]);
    let server = storage_server::Server::start().await;
    let url = server.url("/store");
    let dir = format!("hls/c1/{ID}/320x180-30");
    let env = [
        ("HLS_STORAGE_TYPE", "HTTP"),
        ("HLS_STORAGE_HTTP_URL", url.as_str()),
        ("HLS_CLEANUP_AFTER_END", "YES"),
        ("HLS_CLEANUP_DELAY_SECONDS", "1"),
        ("HLS_LIVE_PLAYLIST_SIZE", "2"),
    ];
    let (fake, worker) = connected_worker(&env).await;
    let uri = nginx.url("c1", KEY);
    fake.send_text(&encode_start("c1", ID, &uri, "320x180-30", false, "False"));
    let publisher = RtmpPublisher::start(&uri, "size=320x180:rate=30", false, 6);
    assert!(publisher.wait());
    let ok = fake.wait_for(Duration::from_secs(30), |f| !closed_for(f, ID).is_empty()).await;
    assert!(ok, "no STREAM-CLOSED; log:\n{}", worker.log());
    // The master's delete will fail once: logged, not retried, the rest still deleted.
    server.script(&format!("/store/hls/c1/{ID}/master.m3u8"), &[storage_server::Reply::Status(500)]);
    let live = format!("/store/{dir}/live.m3u8");
    let mut waited = 0;
    while server.object(&live).is_some() {
        assert!(waited < 100, "live.m3u8 never deleted; log:\n{}", worker.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let deletes: Vec<String> = server.log().iter().filter(|r| r.method == "DELETE").map(|r| r.path.clone()).collect();
    assert!(deletes.iter().any(|p| p.ends_with("/master.m3u8")), "{deletes:?}");
    let segments_left: Vec<String> =
        (0..20).map(|n| format!("/store/{dir}/{n}.ts")).filter(|p| server.object(p).is_some()).collect();
    assert!(segments_left.is_empty(), "segments left: {segments_left:?}");
    assert!(worker.log().contains("cleanup: delete failed (not retried)"), "{}", worker.log());
    let master_deletes = deletes.iter().filter(|p| p.ends_with("/master.m3u8")).count();
    assert_eq!(master_deletes, 1, "a failed delete is not retried: {deletes:?}");
    drop(nginx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_no_job_still_registers_zero_before_closing() {
    let (fake, mut worker) = connected_worker(&[]).await;
    worker.signal(libc::SIGTERM);
    let code = tokio::task::spawn_blocking(move || (worker.wait_exit(Duration::from_secs(15)), worker)).await.unwrap();
    let (code, worker) = code;
    assert_eq!(code, Some(0), "log:\n{}", worker.log());
    // The worker wrote its REGISTER before it closed the link; on a loaded machine the fake
    // may still be reading it when the process is already gone.
    let zero = |frames: &[Recorded]| of(frames, "REGISTER").last().and_then(|f| f.param("Capacity")) == Some("0");
    fake.wait_for(Duration::from_secs(5), zero).await;
    let registers: Vec<Option<String>> =
        of(&fake.frames(), "REGISTER").iter().map(|f| f.param("Capacity").map(String::from)).collect();
    assert_eq!(registers.last(), Some(&Some("0".to_string())), "{registers:?}\n{}", worker.log());
    assert_eq!(registers.first(), Some(&Some("-1".to_string())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_encode_starts_honours_capacity_and_closes_each_job_exactly_once() {
    let nginx = Nginx::start(&["c1"]);
    let (fake, worker) = connected_worker(&[("SERVER_CAPACITY", "2"), ("HLS_SOURCE_TIMEOUT_SECONDS", "3")]).await;
    // Nobody publishes on c1: accepted jobs wait for media, then end with SOURCE_TIMEOUT.
    let uri = nginx.url("c1", KEY);
    let mut expected = std::collections::HashSet::new();
    let mut invalid = 0;
    for i in 0..200u32 {
        let id = format!("{:032x}", 0xf100_0000u64 + u64::from(i / 2 * 2)); // every id twice
        let text = match i % 5 {
            0 => encode_start("../x", &id, &uri, "", false, "False"),
            1 => encode_start("c1", &format!("a/{i}"), &uri, "", false, "False"),
            2 => encode_start("c1", &id, &uri, "", false, "False").replace("Type:RTMP", "Type:FOO"),
            _ => encode_start("c1", &id, &uri, "320x180-30", false, "False"),
        };
        match i % 5 {
            0 | 1 => invalid += 1,
            _ => {
                expected.insert(id);
            }
        }
        fake.send_text(&text);
    }
    // Every id with a usable channel and id gets exactly one STREAM-CLOSED.
    let ok = fake
        .wait_for(Duration::from_secs(60), |f| {
            expected.iter().all(|id| !closed_for(f, id).is_empty()) && of(f, "STREAM-CLOSED").len() >= expected.len()
        })
        .await;
    assert!(ok, "not every job was closed; log:\n{}", worker.log());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let frames = fake.frames();
    for id in &expected {
        let closes = closed_for(&frames, id).into_iter().filter(|f| f.param("Stream-Channel") == Some("c1")).count();
        assert_eq!(closes, 1, "c1/{id} must be closed exactly once");
    }
    let codes: Vec<&str> = of(&frames, "STREAM-CLOSED").iter().filter_map(|f| f.param("Error-Code")).collect();
    let timeouts = codes.iter().filter(|c| **c == "SOURCE_TIMEOUT").count();
    assert!(codes.contains(&"OVER_CAPACITY") && codes.contains(&"BAD_JOB"), "{codes:?}");
    // Capacity 2: the REGISTERs never offer more, and jobs that ran never exceeded it.
    let capacities: Vec<i64> =
        of(&frames, "REGISTER").iter().filter_map(|f| f.param("Capacity")?.parse().ok()).collect();
    assert!(capacities.iter().all(|c| (0..=2).contains(c)), "{capacities:?}");
    assert!(timeouts >= 2, "{codes:?}");
    assert!(available_for(&frames, "").is_empty() && of(&frames, "STREAM-AVAILABLE").is_empty());
    // Nothing written for anything: no media arrived, and invalid jobs never touch storage.
    assert!(util::tree(&worker.storage()).is_empty(), "{:?}", util::tree(&worker.storage()));
    let _ = invalid;
    // The worker is still alive and well, and did not balloon.
    let rss_kb = worker_process::rss_kb(worker.child.id() as i32);
    assert!(rss_kb > 0, "the worker is alive");
    assert!(rss_kb < 200_000, "worker RSS {rss_kb} kB after the flood");
    assert_invariants(&fake, &worker);
    drop(nginx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_capacity_measures_the_machine_and_admits_by_the_cpu_a_ladder_needs() {
    let nginx = Nginx::start(&["c1", "c2"]);
    // A tenth of a core for jobs: an idle worker still takes one job, nothing fits beside it.
    let env = [("SERVER_CAPACITY", "auto"), ("HLS_CAPACITY_CORES", "0.1")];
    let fake = FakeCoordinator::start(SECRET, Duration::from_secs(20)).await;
    let worker = start_worker(&fake, &env);
    let ok = fake.wait_for(Duration::from_secs(60), |f| !of(f, "REGISTER").is_empty()).await;
    assert!(ok, "the worker never registered; log:\n{}", worker.log());
    let log = worker.log();
    let line = log.lines().find(|l| l.contains("SERVER_CAPACITY=auto: measured")).expect("the estimate is logged");
    let figure = |name: &str| -> f64 {
        let at = line.find(&format!("{name}=\"")).unwrap_or_else(|| panic!("{name} in {line}")) + name.len() + 2;
        line[at..].split('"').next().unwrap().parse().unwrap()
    };
    let (unit, budget) = (figure("default_job_cores"), figure("budget_cores"));
    assert!(unit > 0.05 && unit < 20.0, "{line}");
    assert!((budget - 0.085).abs() < 0.01, "{line}");
    assert_eq!(fake.frames()[0].text, "REGISTER\nCapacity:0\n", "no default job fits in 0.085 cores");

    let small = nginx.url("c1", KEY);
    fake.send_text(&encode_start("c1", ID, &small, "426x240-30", false, "False"));
    let publisher = RtmpPublisher::start(&small, "size=640x360:rate=30", false, 6);
    let big = nginx.url("c2", KEY);
    fake.send_text(&encode_start("c2", ID2, &big, "1280x720-60,854x480-60,640x360-60,426x240-60", false, "False"));
    let ok = fake.wait_for(Duration::from_secs(5), |f| !closed_for(f, ID2).is_empty()).await;
    assert!(ok, "{:#?}", fake.frames());
    let frames = fake.frames();
    let refused = closed_for(&frames, ID2)[0];
    assert_eq!(refused.param("Error-Code"), Some("OVER_CAPACITY"));
    assert!(refused.param("Error-Message").is_some_and(|m| m.contains("cores")), "{}", refused.text);
    assert!(publisher.wait());
    let ok = fake.wait_for(Duration::from_secs(30), |f| !closed_for(f, ID).is_empty()).await;
    assert!(ok, "the admitted job never closed; log:\n{}", worker.log());
    assert_eq!(closed_for(&fake.frames(), ID)[0].param("Error-Code"), None);
    assert!(worker.storage().join("hls/c1").join(ID).join("426x240-30/live.m3u8").is_file());
    assert_invariants(&fake, &worker);
}
