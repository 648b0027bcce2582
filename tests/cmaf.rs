//! `HLS_SEGMENT_FORMAT=cmaf` end to end with the real binary: one file-source transcode and
//! one RTMP stream through nginx-rtmp whose transcode child is killed mid-stream, each checked
//! with an independent box reader (`support::mp4`) and with ffmpeg as the player.

pub mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use support::fake_coordinator::{FakeCoordinator, Recorded};
use support::mp4::{read_fragment, read_init};
use support::util::{self, transcode, Nginx, RtmpPublisher};
use support::worker_process::{OnDrop, Worker};

const SECRET: &str = "s";
const ID: &str = "0000018f4a2b3c4d00000007a1b2c3d4";
const KEY: &str = "publisherkey42";

/// One published segment as a rendition's recording lists it and its file holds it.
#[derive(Debug, Clone)]
struct Listed {
    extinf: f64,
    init: String,
    discontinuity: bool,
    /// First presentation time and duration by the segment's own boxes, seconds.
    pts: f64,
    measured: f64,
    tfdt: u64,
}

/// Reads `playlist` (a CMAF media playlist) and every file it lists: init segments parse with
/// `entry`/`config`, every video segment starts with a sync sample, and each EXTINF is the
/// segment's measured duration. Returns the segments by number.
fn check_rendition(playlist: &Path, entry: &str, config: &str) -> BTreeMap<u64, Listed> {
    let text = std::fs::read_to_string(playlist).unwrap_or_else(|e| panic!("{}: {e}", playlist.display()));
    let dir = playlist.parent().unwrap();
    let (mut init, mut extinf, mut discontinuity) = (None::<String>, None::<f64>, false);
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if let Some(uri) = line.strip_prefix("#EXT-X-MAP:URI=") {
            init = Some(uri.trim_matches('"').to_string());
        } else if line == "#EXT-X-DISCONTINUITY" {
            discontinuity = true;
        } else if let Some(d) = line.strip_prefix("#EXTINF:") {
            extinf = Some(d.trim_end_matches(',').parse().unwrap());
        } else if let Some(n) = line.strip_suffix(".m4s") {
            let init = init.clone().unwrap_or_else(|| panic!("{n}.m4s before any EXT-X-MAP:\n{text}"));
            let info = read_init(&dir.join(&init));
            assert_eq!(info.top, ["ftyp", "moov"], "{init}");
            assert_eq!((info.entry.as_str(), info.config.as_deref()), (entry, Some(config)), "{init}");
            let frag = read_fragment(&dir.join(line));
            if entry == "avc1" {
                assert!(frag.samples[0].sync, "{}/{line} does not start with a sync sample", dir.display());
            }
            let ts = f64::from(info.timescale);
            let listed = Listed {
                extinf: extinf.take().unwrap(),
                init,
                discontinuity: std::mem::take(&mut discontinuity),
                pts: frag.first_pts() as f64 / ts,
                measured: frag.ticks() as f64 / ts,
                tfdt: frag.tfdt,
            };
            assert!(
                (listed.extinf - listed.measured).abs() < 1e-6,
                "{}/{line}: EXTINF {} but the fragment lasts {} s",
                dir.display(),
                listed.extinf,
                listed.measured
            );
            out.insert(n.parse().unwrap(), listed);
        }
    }
    assert!(!out.is_empty(), "{} lists nothing", playlist.display());
    out
}

/// Checks a CMAF stream's recording part 0 across renditions: `video` are the rendition
/// directories. Segments of the same number start at the same time in every video rendition,
/// the audio within one AAC frame of them, and a timeline has no gap or overlap.
fn check_stream(stream: &Path, video: &[&str]) -> Vec<BTreeMap<u64, Listed>> {
    let renditions: Vec<_> =
        video.iter().map(|label| check_rendition(&stream.join(label).join("vod-0.m3u8"), "avc1", "avcC")).collect();
    let audio = check_rendition(&stream.join("audio/vod-0.m3u8"), "mp4a", "esds");
    let aac_frame = 1024.0 / 44_100.0;
    for (n, seg) in &renditions[0] {
        for other in &renditions[1..] {
            assert!((other[n].pts - seg.pts).abs() < 1e-3, "segment {n} starts at {} and {}", seg.pts, other[n].pts);
        }
        let a = &audio.get(n).unwrap_or_else(|| panic!("no audio segment {n}"));
        assert!(
            (a.pts - seg.pts).abs() <= aac_frame + 1e-6,
            "segment {n}: audio at {} s, video at {} s",
            a.pts,
            seg.pts
        );
        assert!(seg.pts >= 0.0 && a.tfdt < u64::MAX / 2, "never negative");
    }
    for (r, label) in renditions.iter().chain([&audio]).zip(video.iter().chain(&["audio"])) {
        for ((_, a), (n, b)) in r.iter().zip(r.iter().skip(1)) {
            if !b.discontinuity {
                let (end, next) = (a.pts + a.measured, b.pts);
                // Video tiles exactly; audio frames last 1024 samples each, and a source whose
                // timestamps stray from that (RTMP's milliseconds) restarts a segment at its own
                // time: never more than one frame off.
                let tolerance = if *label == "audio" { aac_frame + 1e-6 } else { 1e-6 };
                assert!(
                    (end - next).abs() < tolerance,
                    "{label}: gap or overlap before segment {n}: {end} then {next}"
                );
            } else {
                assert!(b.pts > a.pts, "the timeline goes on after the discontinuity at {n}");
            }
        }
    }
    let mut all = renditions;
    all.push(audio);
    all
}

#[test]
fn a_file_source_in_cmaf_mode_gives_aligned_fmp4_renditions_and_one_audio_rendition() {
    let out = tempfile::tempdir().unwrap();
    let source = out.path().join("source.mp4");
    let mut args = util::lavfi_inputs("testsrc2=size=320x180:rate=30", true);
    args.extend(["-t", "7", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"].map(String::from));
    util::make_media(&source, &args);
    let dir = out.path().join("out");
    let flags = ["--segment-format", "cmaf", "--record", "--hls-time", "2", "--resolutions", "320x180-30,160x90-30"];
    let (output, events, text) = transcode(source.to_str().unwrap(), &dir, &flags);
    assert!(output.status.success(), "{text}");
    let stream = dir.join("hls/test/local");
    check_stream(&stream, &["320x180-30", "160x90-30"]);
    // Video renditions hold video only; the masters add the audio group to every variant.
    let master = std::fs::read_to_string(stream.join("master.m3u8")).unwrap();
    assert!(master.contains("#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\""), "{master}");
    assert_eq!(master.matches("AUDIO=\"audio\"").count(), 2, "{master}");
    let announced: Vec<String> =
        util::events_of(&events, "index_available").iter().map(|e| e["resolution"].to_string()).collect();
    assert_eq!(announced.len(), 4, "HLS-LIVE and HLS-VOD per video rendition, never the audio: {announced:?}");
    let (played, errors) = util::play(&stream.join("master.m3u8"));
    assert!(played && errors.is_empty(), "ffmpeg reports: {errors}");

    // The WebSocket CDN protocol has no place for an init segment: refused before any work.
    let (output, _, text) = transcode(
        source.to_str().unwrap(),
        &out.path().join("cdn"),
        &["--segment-format", "cmaf", "--ws-cdn-enabled", "YES", "--ws-cdn-url", "ws://127.0.0.1:9/cdn"],
    );
    assert!(!output.status.success(), "{text}");
    assert!(text.contains("HLS_WS_CDN_ENABLED") && text.contains("init segment"), "{text}");
    assert!(!out.path().join("cdn/hls").exists(), "nothing written");
}

fn of<'a>(frames: &'a [Recorded], method: &str) -> Vec<&'a Recorded> {
    frames.iter().filter(|f| f.method == method).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_cmaf_pipeline_resumes_with_new_init_segments_and_the_recording_converts() {
    let nginx = Nginx::start(&["c1"]);
    let fake = FakeCoordinator::start(SECRET, Duration::from_secs(20)).await;
    let env = [("HLS_SEGMENT_FORMAT", "cmaf"), ("HLS_ORIGINAL_MODE", "copy"), ("HLS_TIME_SECONDS", "1")];
    let worker = Worker::start(&fake.base_url(), SECRET, &env, OnDrop::Kill);
    assert!(fake.wait_for(Duration::from_secs(10), |f| !of(f, "REGISTER").is_empty()).await, "{}", worker.log());
    let uri = nginx.url("c1", KEY);
    fake.send_text(&format!(
        "ENCODE-START\nStream-Channel:c1\nStream-ID:{ID}\nStream-Source-Type:RTMP\nStream-Source-URI:{uri}\n\
         Resolutions:ORIGINAL,160x90-30\nRecord:True\nPreviews:False\n"
    ));
    let publisher = RtmpPublisher::start(&uri, "size=320x180:rate=30", true, 12);
    let ok = fake.wait_for(Duration::from_secs(30), |f| of(f, "STREAM-AVAILABLE").len() == 4).await;
    assert!(ok, "{:#?}\n{}", fake.frames(), worker.log());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let pids = worker.transcode_pids();
    assert_eq!(pids.len(), 1, "one transcode child per job");
    // SAFETY: kills the worker's child process, as a crash would.
    unsafe { libc::kill(pids[0], libc::SIGKILL) };
    let ok = fake.wait_for(Duration::from_secs(40), |f| !of(f, "STREAM-CLOSED").is_empty()).await;
    assert!(ok, "no STREAM-CLOSED; log:\n{}", worker.log());
    assert!(publisher.wait());
    let frames = fake.frames();
    assert_eq!(of(&frames, "STREAM-CLOSED")[0].param("Error-Code"), None, "{}", worker.log());
    assert_eq!(of(&frames, "STREAM-AVAILABLE").len(), 4, "the audio rendition is never announced");
    assert!(worker.log().contains("restarting the pipeline"), "{}", worker.log());

    let stream = worker.storage().join(format!("hls/c1/{ID}"));
    let renditions = check_stream(&stream, &["320x180-30", "160x90-30"]);
    for (segments, label) in renditions.iter().zip(["320x180-30", "160x90-30", "audio"]) {
        // The restarted run's first segment starts a new timeline with an init of its own.
        let inits: Vec<&str> = segments.values().map(|s| s.init.as_str()).collect();
        let (first, seam) = (inits[0], segments.values().position(|s| s.discontinuity));
        let seam = seam.unwrap_or_else(|| panic!("{label}: no discontinuity: {segments:?}"));
        assert!(inits[..seam].iter().all(|i| *i == first), "{label}: {inits:?}");
        assert!(inits[seam..].iter().all(|i| *i == inits[seam] && *i != first), "{label}: {inits:?}");
        let numbers: Vec<u64> = segments.keys().copied().collect();
        assert!(numbers.windows(2).all(|w| w[0] < w[1]) && numbers.len() > seam + 1, "{label}: {numbers:?}");
    }
    let master = stream.join("master-vod-0.m3u8");
    let (played, errors) = util::play(&master);
    assert!(played && errors.is_empty(), "ffmpeg reports: {errors}");
    let mp4 = worker.storage().join("recording.mp4");
    let (converted, warnings) = util::to_mp4(&master, &mp4);
    assert!(converted, "{warnings}");
    assert!(!warnings.contains("monoton"), "timestamps go back across the seam:\n{warnings}");
    let probe = util::ffprobe(&mp4, &["-show_entries", "stream=codec_type"]);
    assert_eq!(probe["streams"].as_array().unwrap().len(), 2, "video and audio in one file: {probe}");
    drop(nginx);
}
