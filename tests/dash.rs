//! `HLS_DASH` end to end with the real binary: one realtime `testsrc` in CMAF with `--dash
//! --record`, served by `hls-ladder serve`. While it runs, ffmpeg and Shaka Player (headless
//! Chromium, tests/browser/dash.mjs) play `master.mpd` live; once it has ended, they play
//! `master-vod-0.mpd`, and both manifests are read back and checked against the HLS playlists
//! of the same files.

pub mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;
use support::util::*;

// ---- the manifest as an XML parser reads it ----

#[derive(Debug, Deserialize)]
struct Mpd {
    #[serde(rename = "@type")]
    kind: String,
    #[serde(rename = "@availabilityStartTime")]
    ast: Option<String>,
    #[serde(rename = "@minimumUpdatePeriod")]
    update: Option<String>,
    #[serde(rename = "@mediaPresentationDuration")]
    duration: Option<String>,
    #[serde(rename = "Period", default)]
    periods: Vec<Period>,
}

#[derive(Debug, Deserialize)]
struct Period {
    #[serde(rename = "@start")]
    start: String,
    #[serde(rename = "AdaptationSet", default)]
    sets: Vec<Set>,
}

#[derive(Debug, Deserialize)]
struct Set {
    #[serde(rename = "@contentType")]
    content: String,
    #[serde(rename = "Representation", default)]
    reps: Vec<Rep>,
}

#[derive(Debug, Deserialize)]
struct Rep {
    #[serde(rename = "@id")]
    id: String,
    #[serde(rename = "@codecs")]
    codecs: String,
    #[serde(rename = "SegmentTemplate")]
    template: Template,
}

#[derive(Debug, Deserialize)]
struct Template {
    #[serde(rename = "@timescale")]
    timescale: u64,
    #[serde(rename = "@presentationTimeOffset")]
    pto: u64,
    #[serde(rename = "@initialization")]
    init: String,
    #[serde(rename = "@media")]
    media: String,
    #[serde(rename = "@startNumber")]
    start_number: u64,
    #[serde(rename = "SegmentTimeline")]
    timeline: Timeline,
}

#[derive(Debug, Deserialize)]
struct Timeline {
    #[serde(rename = "S", default)]
    s: Vec<S>,
}

#[derive(Debug, Deserialize)]
struct S {
    #[serde(rename = "@t")]
    t: Option<u64>,
    #[serde(rename = "@d")]
    d: u64,
    #[serde(rename = "@r")]
    r: Option<u64>,
}

impl Template {
    /// (segment number, media time, duration) of every segment, as a DASH client expands them.
    fn segments(&self) -> Vec<(u64, u64, u64)> {
        let mut out = Vec::new();
        let mut t = 0;
        for s in &self.timeline.s {
            t = s.t.unwrap_or(t);
            for _ in 0..=s.r.unwrap_or(0) {
                out.push((self.start_number + out.len() as u64, t, s.d));
                t += s.d;
            }
        }
        out
    }
}

fn parse(path: &Path) -> Mpd {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    quick_xml::de::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", path.display()))
}

/// xs:duration as written (`PT12.5S`), seconds.
fn seconds(duration: &str) -> f64 {
    duration.strip_prefix("PT").and_then(|s| s.strip_suffix('S')).expect(duration).parse().unwrap()
}

/// `2025-03-01T10:00:00.000Z` as Unix ms: `date`, an independent implementation.
fn unix_ms(date: &str) -> i64 {
    let out = Command::new("date").args(["-u", "-d", date, "+%s%3N"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or_else(|e| panic!("date {date}: {e}"))
}

/// `ffmpeg -v error -i INPUT [-t 3] -f null -` killed after a minute at most (its DASH
/// demuxer never ends on its own while a manifest is live).
fn ffmpeg_decode(input: &str, limit: Option<&str>) -> Output {
    let mut cmd = Command::new("timeout");
    cmd.args(["-s", "KILL", "60", "ffmpeg", "-hide_banner", "-v", "error", "-i", input, "-map", "0"]);
    if let Some(t) = limit {
        cmd.args(["-t", t]);
    }
    run(cmd.args(["-f", "null", "-"]))
}

fn shaka(repo: &Path, base: &str, mpd: &str, mode: &str) -> (bool, String) {
    let out = Command::new("node")
        .arg(repo.join("tests/browser/dash.mjs"))
        .args([base, mpd, mode])
        .env("NODE_PATH", repo.join("target/npm/node_modules"))
        .current_dir(repo)
        .output()
        .expect("node (scripts/install-deps.sh installs it)");
    let text = format!(
        "--- dash.mjs {mode} stdout ---\n{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    (out.status.success(), text)
}

/// A process of this test, killed when dropped.
struct Process(Child, PathBuf);

impl Process {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.1).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(cmd: &mut Command, log: PathBuf) -> Process {
    let child =
        cmd.env_remove("RUST_LOG").stdout(Stdio::null()).stderr(std::fs::File::create(&log).unwrap()).spawn().unwrap();
    Process(child, log)
}

/// Number → EXTINF of a recording part's media playlist.
fn extinfs(playlist: &Path) -> BTreeMap<u64, f64> {
    let (entries, _) = playlist_entries(playlist);
    entries.into_iter().map(|(d, uri)| (uri.trim_end_matches(".m4s").parse().unwrap(), d)).collect()
}

/// Checks one manifest's Representations against the files and the recording playlists:
/// every init and segment it names exists, every S@d / timescale is the EXTINF of the same
/// number. Returns how many segments were checked.
fn check_against_playlists(stream: &Path, mpd: &Mpd) -> usize {
    let mut checked = 0;
    for period in &mpd.periods {
        for set in &period.sets {
            for rep in &set.reps {
                let t = &rep.template;
                assert_eq!(t.init.split('/').next(), Some(rep.id.as_str()), "{t:?}");
                assert!(stream.join(&t.init).is_file(), "{} missing", t.init);
                assert_eq!(t.media, format!("{}/$Number$.m4s", rep.id));
                let extinf = extinfs(&stream.join(&rep.id).join("vod-0.m3u8"));
                for (n, _, d) in t.segments() {
                    assert!(stream.join(format!("{}/{n}.m4s", rep.id)).is_file(), "{}/{n}.m4s missing", rep.id);
                    let listed = extinf.get(&n).unwrap_or_else(|| panic!("{}/{n}.m4s not in vod-0.m3u8", rep.id));
                    let exact = d as f64 / t.timescale as f64;
                    assert!(
                        (exact - listed).abs() < 5e-7,
                        "{}/{n}: S@d {d}/{} vs EXTINF {listed}",
                        rep.id,
                        t.timescale
                    );
                    checked += 1;
                }
            }
            let codecs: Vec<&str> = set.reps.iter().map(|r| r.codecs.as_str()).collect();
            match set.content.as_str() {
                "video" => assert!(codecs.iter().all(|c| c.starts_with("avc1.")), "{codecs:?}"),
                "audio" => assert_eq!(codecs, ["mp4a.40.2"]),
                other => panic!("unexpected AdaptationSet {other}"),
            }
        }
    }
    checked
}

#[test]
fn shaka_and_ffmpeg_play_the_dash_manifests_live_and_recorded() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let server = spawn(
        Command::new(bin()).arg("serve").arg(&out).args(["--listen", &format!("127.0.0.1:{port}")]),
        dir.path().join("serve.log"),
    );
    wait_for_port(port, Duration::from_secs(20));
    let mut transcode = spawn(
        Command::new(bin())
            .args(["transcode", "testsrc"])
            .arg(&out)
            .args(["--realtime", "YES", "--duration", "24", "--hls-time", "2", "--live-size", "4"])
            .args(["--resolutions", "640x360-30,320x180-30", "--segment-format", "cmaf", "--dash", "YES", "--record"]),
        dir.path().join("transcode.log"),
    );
    let stream = out.join("hls/test/local");
    // Three segments listed: enough for the player's presentation delay.
    let deadline = Instant::now() + Duration::from_secs(60);
    while extinfs_listed(&stream.join("640x360-30/live.m3u8")) < 3 {
        assert!(Instant::now() < deadline, "three segments not listed after 60 s\n{}", transcode.log());
        assert!(transcode.0.try_wait().unwrap().is_none(), "the transcode ended early\n{}", transcode.log());
        std::thread::sleep(Duration::from_millis(200));
    }

    // Live: ffmpeg decodes 3 s, Shaka plays at the live edge.
    let live_url = format!("{base}/hls/test/local/master.mpd");
    let decoded = ffmpeg_decode(&live_url, Some("3"));
    let live_ffmpeg = describe("ffmpeg -i master.mpd (live)", &decoded);
    let (live_ok, live_shaka) = shaka(repo, &base, "hls/test/local/master.mpd", "live");
    let was_live = transcode.0.try_wait().unwrap().is_none();

    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = transcode.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the transcode did not end\n{}", transcode.log());
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(status.success(), "{status:?}\n{}", transcode.log());
    assert!(decoded.status.success() && decoded.stderr.is_empty(), "{live_ffmpeg}");
    assert!(was_live, "the stream ended during the live checks: they saw an ended manifest\n{}", transcode.log());
    assert!(live_ok, "Shaka on the live manifest\n{live_shaka}\n{}\n{}", transcode.log(), server.log());

    // Recorded: ffmpeg decodes everything, Shaka plays to the end.
    let vod = stream.join("master-vod-0.mpd");
    let decoded = ffmpeg_decode(vod.to_str().unwrap(), None);
    assert!(
        decoded.status.success() && decoded.stderr.is_empty(),
        "{}",
        describe("ffmpeg -i master-vod-0.mpd", &decoded)
    );
    let (vod_ok, vod_shaka) = shaka(repo, &base, "hls/test/local/master-vod-0.mpd", "vod");
    assert!(vod_ok, "Shaka on the recording\n{vod_shaka}\n{}", server.log());

    // The manifests against the playlists of the same files.
    let recorded = parse(&vod);
    assert_eq!(recorded.kind, "static");
    let listed = extinfs(&stream.join("640x360-30/vod-0.m3u8"));
    let total: f64 = listed.values().sum();
    assert!((seconds(recorded.duration.as_deref().unwrap()) - total).abs() < 1e-5, "{recorded:?} vs {total}");
    let checked = check_against_playlists(&stream, &recorded);
    assert_eq!(checked, 3 * listed.len(), "every segment of two video renditions and the audio");

    let ended = parse(&stream.join("master.mpd"));
    assert_eq!((ended.kind.as_str(), ended.update.as_deref()), ("dynamic", None), "ended: {ended:?}");
    assert!(ended.duration.is_some(), "an ended live manifest states its duration");
    check_against_playlists(&stream, &ended);
    // AST + Period@start + (S@t − PTO) / timescale is the PROGRAM-DATE-TIME live.m3u8 gives
    // its first listed segment.
    let live = std::fs::read_to_string(stream.join("640x360-30/live.m3u8")).unwrap();
    let pdt = unix_ms(&tag_value(&live, "#EXT-X-PROGRAM-DATE-TIME").unwrap());
    let first: u64 = live.lines().find(|l| l.ends_with(".m4s")).unwrap().trim_end_matches(".m4s").parse().unwrap();
    let period = &ended.periods[0];
    let video = &period.sets[0].reps.iter().find(|r| r.id == "640x360-30").unwrap().template;
    let (n, t, _) = video.segments()[0];
    assert_eq!(n, first, "the live manifest starts where live.m3u8 does");
    let at = unix_ms(ended.ast.as_deref().unwrap()) as f64
        + 1000.0 * (seconds(&period.start) + (t - video.pto) as f64 / video.timescale as f64);
    assert!((at - pdt as f64).abs() <= 1.0, "DASH puts {n}.m4s at {at} ms, HLS at {pdt} ms");
}

fn extinfs_listed(playlist: &Path) -> usize {
    std::fs::read_to_string(playlist).map(|t| t.matches("#EXTINF:").count()).unwrap_or(0)
}
