//! The cross-built ARM binary under user-mode emulation, checked on this machine as the other
//! tests check the native one: `--version`, `probe` of a file, a `transcode testsrc` with two
//! rungs, a recording and previews, and a `worker` that runs one job for the fake coordinator.
//! Where the result does not depend on the machine (probe's report, segment boundaries), the
//! ARM binary must answer exactly what the native one answers.
//!
//! Ignored by default: scripts/cross-test.sh builds the binary with scripts/cross-build.sh and
//! runs these with HLS_LADDER_CROSS_BIN (the binary) and HLS_LADDER_CROSS_RUNNER (the emulator
//! and its flags, e.g. `qemu-arm -L /`: the target's libraries come from Debian multiarch).

pub mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;
use support::fake_coordinator::{FakeCoordinator, Recorded};
use support::util::*;
use support::worker_process::{OnDrop, Worker};
use support::ws_ingest::WsIngest;

fn setting(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run these through scripts/cross-test.sh"))
}

fn cross_bin() -> PathBuf {
    PathBuf::from(setting("HLS_LADDER_CROSS_BIN"))
}

/// The emulator and its flags.
fn runner() -> Vec<String> {
    let words: Vec<String> = setting("HLS_LADDER_CROSS_RUNNER").split_whitespace().map(String::from).collect();
    assert!(!words.is_empty(), "HLS_LADDER_CROSS_RUNNER is empty");
    words
}

/// The ARM binary under the emulator, ready for its arguments.
fn cross() -> Command {
    let runner = runner();
    let mut cmd = Command::new(&runner[0]);
    cmd.args(&runner[1..]).arg(cross_bin()).env_remove("RUST_LOG");
    cmd
}

fn native() -> Command {
    let mut cmd = Command::new(bin());
    cmd.env_remove("RUST_LOG");
    cmd
}

fn run_ok(cmd: &mut Command) -> Output {
    let out = run(cmd);
    assert!(out.status.success(), "{}", describe(&format!("{cmd:?}"), &out));
    out
}

/// ELF class (1: 32-bit, 2: 64-bit) and machine (40: ARM, 183: AArch64) of a binary.
fn elf_class_and_machine(path: &Path) -> (u8, u16) {
    let head = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&head[..4], b"\x7fELF", "{} is not an ELF file", path.display());
    // e_machine follows e_ident (16 bytes) and e_type (2), in the file's byte order (EI_DATA).
    let machine = [head[18], head[19]];
    let machine = if head[5] == 1 { u16::from_le_bytes(machine) } else { u16::from_be_bytes(machine) };
    (head[4], machine)
}

/// An MPEG-TS of H.264 `testsrc2` (`video` options) and AAC, a keyframe a second.
fn make_source(path: &Path, video: &str, seconds: u32) {
    let args = format!(
        "-f lavfi -i testsrc2={video} -f lavfi -i sine=frequency=440 -t {seconds} \
         -c:v libx264 -preset ultrafast -g 30 -c:a aac -f mpegts"
    );
    make_media(path, &args.split_whitespace().collect::<Vec<_>>());
}

#[test]
#[ignore = "runs the cross-built binary: scripts/cross-test.sh arm64|armhf"]
fn the_cross_built_binary_is_arm_and_reports_the_same_version() {
    let (class, machine) = elf_class_and_machine(&cross_bin());
    assert!(matches!((class, machine), (1, 40) | (2, 183)), "not an ARM binary: class {class}, machine {machine}");
    let arm = run_ok(cross().arg("--version"));
    let x86 = run_ok(native().arg("--version"));
    assert_eq!(String::from_utf8_lossy(&arm.stdout), String::from_utf8_lossy(&x86.stdout));
}

#[test]
#[ignore = "runs the cross-built binary: scripts/cross-test.sh arm64|armhf"]
fn probe_of_a_file_reports_what_the_native_binary_reports() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("source.ts");
    make_source(&file, "size=640x360:rate=30000/1001", 3);
    let probe = |cmd: &mut Command| -> Value {
        let out = run_ok(cmd.args(["probe", "--json"]).arg(&file));
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("probe printed no JSON: {e}"))
    };
    let arm = probe(&mut cross());
    let x86 = probe(&mut native());
    assert_eq!(arm["streams"].as_array().map(Vec::len), Some(2), "{arm:#}");
    assert!(!arm["ladder"].as_array().unwrap().is_empty(), "{arm:#}");
    assert_eq!(arm, x86, "the ARM binary's probe differs from the native one's");
}

const RUNGS: [&str; 2] = ["426x240-30", "256x144-15"];
const SECONDS: usize = 4;

/// `transcode testsrc` with two rungs, one-second segments, a recording and previews.
fn transcode_testsrc(mut cmd: Command, out: &Path) -> (Vec<Value>, String) {
    cmd.args(["transcode", "testsrc"]).arg(out).args(["--events", "jsonl", "--duration", &SECONDS.to_string()]);
    cmd.args(["--hls-time", "1", "--resolutions", &RUNGS.join(","), "--previews", "128x72,1", "--record"]);
    let output = run(&mut cmd);
    let text = describe(&format!("{cmd:?}"), &output);
    assert!(output.status.success(), "{text}");
    let events = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("bad event line {l:?}: {e}\n{text}")))
        .collect();
    (events, text)
}

/// Each rung's playlist entries (duration, segment), live and recording.
fn playlists(stream: &Path) -> Vec<(String, Vec<(f64, String)>)> {
    let mut all = Vec::new();
    for rung in RUNGS {
        for name in ["live.m3u8", "vod-0.m3u8"] {
            all.push((format!("{rung}/{name}"), playlist_entries(&stream.join(rung).join(name)).0));
        }
    }
    all
}

#[test]
#[ignore = "runs the cross-built binary: scripts/cross-test.sh arm64|armhf"]
fn testsrc_transcoded_under_emulation_passes_the_output_checks() {
    let out = tempfile::tempdir().unwrap();
    let (events, text) = transcode_testsrc(cross(), out.path());
    let stream = out.path().join("hls/test/local");

    for rung in RUNGS {
        let dir = stream.join(rung);
        let (entries, ended) = playlist_entries(&dir.join("live.m3u8"));
        assert!(ended, "{rung}: live.m3u8 has no ENDLIST\n{text}");
        let names: Vec<&str> = entries.iter().map(|e| e.1.as_str()).collect();
        assert_eq!(names, ["0.ts", "1.ts", "2.ts", "3.ts"], "{rung}: {SECONDS} s in 1 s segments\n{text}");
        let total: f64 = entries.iter().map(|e| e.0).sum();
        assert!((total - SECONDS as f64).abs() < 0.1, "{rung}: {total} s listed");
        for (duration, name) in &entries {
            let segment = dir.join(name);
            let size = std::fs::metadata(&segment).map(|m| m.len()).unwrap_or(0);
            assert!(size > 4 * 188, "{rung}/{name}: {size} bytes");
            assert!((duration - 1.0).abs() < 0.1, "{rung}/{name}: EXTINF {duration}");
            assert_eq!(keyframes(&segment).iter().filter(|k| **k).count(), 1, "{rung}/{name}: keyframes");
            assert!(first_video_frame(&segment).0, "{rung}/{name} does not start with a keyframe");
        }
        let (w, h, fps) = video_geometry(&dir.join("0.ts"));
        let (want_w, want_h, want_fps) = if rung == RUNGS[0] { (426, 240, "30/1") } else { (256, 144, "15/1") };
        assert_eq!((w, h, fps.as_str()), (want_w, want_h, want_fps), "{rung}");
        let vod = std::fs::read_to_string(dir.join("vod-0.m3u8")).unwrap();
        assert!(vod.contains("#EXT-X-PLAYLIST-TYPE:VOD") && vod.contains("#EXT-X-ENDLIST"), "{vod}");
        // The recording converts to one file with `ffmpeg -c copy`, without a warning.
        let mp4 = out.path().join(format!("{rung}.mp4"));
        let (converted, said) = to_mp4(&dir.join("vod-0.m3u8"), &mp4);
        assert!(converted && said.is_empty(), "{rung}: the recording does not convert cleanly: {said}");
        let probe = ffprobe(&mp4, &["-show_entries", "format=duration"]);
        let duration: f64 = probe["format"]["duration"].as_str().unwrap().parse().unwrap();
        assert!((duration - SECONDS as f64).abs() < 0.2, "{rung}: the recording lasts {duration} s");
    }

    let master = std::fs::read_to_string(stream.join("master.m3u8")).unwrap();
    assert!(master.contains("CODECS=\"avc1.") && master.contains("mp4a.40.2"), "{master}");
    for rung in RUNGS {
        assert!(master.contains(&format!("{rung}/live.m3u8")), "{master}");
    }
    let probe = ffprobe(&stream.join("master.m3u8"), &["-show_entries", "format=duration"]);
    let duration: f64 = probe["format"]["duration"].as_str().unwrap().parse().unwrap();
    assert!((duration - SECONDS as f64).abs() < 0.5, "master duration {duration}");

    let previews = out.path().join("img-preview/test/local/128x72-1");
    let index = std::fs::read_to_string(previews.join("index.json")).unwrap();
    assert_eq!(index, format!(r#"{{"index_start":0,"count":{SECONDS},"pattern":"%d.jpg"}}"#));
    for n in 0..SECONDS {
        let jpg = previews.join(format!("{n}.jpg"));
        assert_eq!(video_geometry(&jpg).0, 128);
        // Decoded to the last pixel, not only its header read.
        run_ok(Command::new("ffmpeg").args(["-v", "error", "-xerror", "-i"]).arg(&jpg).args(["-f", "null", "-"]));
    }

    let first = events.iter().find(|e| e["event"] != "alive").unwrap();
    assert_eq!(first["event"], "started", "{text}");
    let last = events.last().unwrap();
    assert!(last["event"] == "closed" && last["error_code"].is_null(), "{text}");
    assert_eq!(events_of(&events, "segment").len(), SECONDS, "{text}");

    // The same job on the native binary cuts the same segments.
    let native_out = tempfile::tempdir().unwrap();
    transcode_testsrc(native(), native_out.path());
    assert_eq!(playlists(&stream), playlists(&native_out.path().join("hls/test/local")));
}

const SECRET: &str = "s";
const ID: &str = "0000018f4a2b3c4d00000007a1b2c3d4";
const KEY: &str = "publisherkey42";

fn closed(frames: &[Recorded]) -> Vec<&Recorded> {
    frames.iter().filter(|f| f.method == "STREAM-CLOSED").collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "runs the cross-built binary: scripts/cross-test.sh arm64|armhf"]
async fn a_worker_under_emulation_registers_runs_a_job_and_closes_it() {
    let media = tempfile::tempdir().unwrap();
    let ts = media.path().join("source.ts");
    make_source(&ts, "size=320x180:rate=30", 4);
    let ingest = WsIngest::start("c1", KEY, std::fs::read(&ts).unwrap(), 4.0).await;
    let fake = FakeCoordinator::start(SECRET, Duration::from_secs(20)).await;
    // The kernel cannot start an ARM program without binfmt_misc, so the emulated worker
    // starts each job's `transcode` process through the emulator itself.
    let wrapper = runner().join(" ");
    let env = [("LOG_DEBUG", "YES"), ("HLS_TRANSCODE_WRAPPER", wrapper.as_str())];
    let worker = Worker::start_program(cross(), &fake.base_url(), SECRET, &env, OnDrop::Kill);
    let registered = fake.wait_for(Duration::from_secs(60), |f| f.iter().any(|f| f.method == "REGISTER")).await;
    assert!(registered, "the worker never registered; log:\n{}", worker.log());
    assert_eq!(fake.frames()[0].text, "REGISTER\nCapacity:-1\n");

    fake.send_text(&format!(
        "ENCODE-START\nStream-Channel:c1\nStream-ID:{ID}\nStream-Source-Type:WS\nStream-Source-URI:{}\n\
         Resolutions:320x180-30\nRecord:False\nPreviews:False\n",
        ingest.uri("c1", KEY)
    ));
    let ended = fake.wait_for(Duration::from_secs(120), |f| !closed(f).is_empty()).await;
    assert!(ended, "no STREAM-CLOSED; frames: {:#?}\nlog:\n{}", fake.frames(), worker.log());

    let frames = fake.frames();
    let closed = closed(&frames);
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].text, format!("STREAM-CLOSED\nStream-Channel:c1\nStream-ID:{ID}\n"), "{}", worker.log());
    let live = format!("hls/c1/{ID}/320x180-30/live.m3u8");
    let announced: Vec<&str> =
        frames.iter().filter(|f| f.method == "STREAM-AVAILABLE").map(|f| f.param("Index-file").unwrap()).collect();
    assert_eq!(announced, [live.as_str()], "{}", worker.log());
    assert!(announced_before(&frames, closed[0]), "STREAM-AVAILABLE after STREAM-CLOSED");
    let (entries, ended) = playlist_entries(&worker.storage().join(&live));
    assert!(ended, "the playlist has no ENDLIST");
    assert!(entries.len() >= 3, "4 s of media in 1 s segments: {entries:?}");
    for (_, name) in &entries {
        let segment = worker.storage().join(&live).with_file_name(name);
        assert!(segment.is_file(), "the playlist lists missing {name}");
        assert!(first_video_frame(&segment).0, "{name} does not start with a keyframe");
    }
    fake.assert_clean();
}

fn announced_before(frames: &[Recorded], closed: &Recorded) -> bool {
    frames.iter().filter(|f| f.method == "STREAM-AVAILABLE").all(|f| f.at < closed.at)
}
