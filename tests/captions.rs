//! Closed captions (CEA-608 in ATSC A/53 SEI) carried through every rendition and declared
//! in the masters: a generated captioned source, the real binary, FFmpeg's caption decoder
//! as the judge.

pub mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::captions::*;
use support::util::*;

#[test]
fn the_generated_source_carries_captions_ffmpeg_decodes() {
    let source = captioned_source();
    assert!(ffprobe_says_captioned(&source), "ffprobe sees no captions in {}", source.display());
    let found = decoded_captions(&source);
    assert_same_captions("the source", &found, &expected(), 0.02);
}

fn expected() -> Vec<(f64, f64, String)> {
    CAPTIONS.iter().map(|&(start, end, text)| (start, end, text.to_string())).collect()
}

/// Same texts in the same order, each start and end within `tolerance` seconds.
fn assert_same_captions(what: &str, found: &[(f64, f64, String)], want: &[(f64, f64, String)], tolerance: f64) {
    let texts = |c: &[(f64, f64, String)]| c.iter().map(|c| c.2.clone()).collect::<Vec<_>>();
    assert_eq!(texts(found), texts(want), "{what}: {found:?}");
    for (f, w) in found.iter().zip(want) {
        let off = (f.0 - w.0).abs().max((f.1 - w.1).abs());
        assert!(off <= tolerance, "{what}: {f:?} is {off:.3} s off {w:?} (tolerance {tolerance} s)");
    }
}

/// The captions of one rendition, as a player reading its segments back to back finds them.
fn rendition_captions(rendition: &Path, scratch: &Path) -> Vec<(f64, f64, String)> {
    let (entries, ended) = playlist_entries(&rendition.join("live.m3u8"));
    assert!(ended, "{}: no ENDLIST", rendition.display());
    let mut bytes = Vec::new();
    for (_, uri) in &entries {
        bytes.extend(std::fs::read(rendition.join(uri)).unwrap());
    }
    let joined = scratch.join(format!("{}.ts", rendition.file_name().unwrap().to_string_lossy()));
    std::fs::write(&joined, bytes).unwrap();
    decoded_captions(&joined)
}

/// Every rendition of `stream` (a stream directory) carries the source's captions at the same
/// times as the first rendition (ORIGINAL): within one frame of 30 fps, two at 30 fps or less
/// when the first one runs faster (a 60 -> 30 fps rung moves a dropped frame's bytes to the
/// next frame kept). The master declares them on every variant. Returns the rendition labels.
/// `live`: the stream was joined live, at some keyframe: ORIGINAL then has the source's last
/// captions (at least one) shifted by where it joined.
fn assert_captions_everywhere(stream: &Path, scratch: &Path, live: bool) -> Vec<String> {
    let master = std::fs::read_to_string(stream.join("master.m3u8")).unwrap();
    let media = "#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID=\"cc\",NAME=\"English\",INSTREAM-ID=\"CC1\"";
    assert_eq!(master.lines().filter(|l| *l == media).count(), 1, "{master}");
    assert!(!master.contains("SERVICE1"), "no CEA-708 in the source: {master}");
    let variants: Vec<&str> = master.lines().filter(|l| l.starts_with("#EXT-X-STREAM-INF")).collect();
    assert!(variants.iter().all(|l| l.ends_with(",CLOSED-CAPTIONS=\"cc\"")), "{master}");
    let labels: Vec<String> = master
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.trim_end_matches("/live.m3u8").to_string())
        .collect();
    assert_eq!(labels.len(), variants.len());
    let reference = rendition_captions(&stream.join(&labels[0]), scratch);
    let mut want = expected();
    if live {
        assert!(!reference.is_empty() && reference.len() <= want.len(), "{}: {reference:?}", labels[0]);
        want.drain(..want.len() - reference.len());
        let shift = reference[0].0 - want[0].0;
        want.iter_mut().for_each(|w| (w.0, w.1) = (w.0 + shift, w.1 + shift));
    }
    assert_same_captions(&labels[0], &reference, &want, 1.0 / 30.0);
    for (label, variant) in labels.iter().zip(&variants).skip(1) {
        let found = rendition_captions(&stream.join(label), scratch);
        let decimated = variant.contains("FRAME-RATE=30.000") && variants[0].contains("FRAME-RATE=60.000");
        let tolerance = if decimated { 2.0 / 30.0 } else { 1.0 / 30.0 };
        assert_same_captions(label, &found, &reference, tolerance + 1e-6);
    }
    labels
}

#[test]
fn every_rendition_of_the_default_ladder_carries_the_captions_and_the_master_declares_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // ORIGINAL encoded: every rendition here goes through decode, scale and encode.
    let source = captioned_source();
    let (output, _, text) =
        transcode(source.to_str().unwrap(), &out, &["--hls-time", "2", "--original-mode", "encode"]);
    assert!(output.status.success(), "{text}");
    let labels = assert_captions_everywhere(&out.join("hls/test/local"), dir.path(), false);
    // The default ladder on a 640x360 60 fps source: ORIGINAL at 60, two rungs decimated to
    // 30 (one scaled, one not): the three ways a picture reaches an encoder.
    assert_eq!(labels, ["640x360-60", "426x240-30~400", "640x360-30~800"], "{text}");
    the_player_page_shows_them_with_its_cc_button(&out, CAPTIONS[2].2);
}

/// `hls-ladder serve` on `out`, and headless Chromium on its stream page
/// (tests/browser/player.mjs --captions): the CC button turns on a captions track that
/// shows `text`.
fn the_player_page_shows_them_with_its_cc_button(out: &Path, text: &str) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let port = free_port();
    let mut serve = Command::new(bin())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .arg(out)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(port, Duration::from_secs(20));
    let screenshot = repo.join("target/captions-screenshot.png");
    let browser = Command::new("node")
        .arg(repo.join("tests/browser/player.mjs"))
        .args(["--captions", text, &format!("http://127.0.0.1:{port}"), "test/local"])
        .arg(&screenshot)
        .env("NODE_PATH", repo.join("target/npm/node_modules"))
        .current_dir(repo)
        .output()
        .expect("node (scripts/install-deps.sh installs it)");
    let _ = serve.kill();
    let _ = serve.wait();
    assert!(browser.status.success(), "{}", describe("node tests/browser/player.mjs --captions", &browser));
}

#[test]
fn a_source_without_captions_gets_no_declaration() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("plain.flv");
    uncaptioned_twin(&source);
    assert!(!ffprobe_says_captioned(&source));
    let out = dir.path().join("out");
    let (output, _, text) =
        transcode(source.to_str().unwrap(), &out, &["--hls-time", "2", "--resolutions", "426x240-30"]);
    assert!(output.status.success(), "{text}");
    let master = std::fs::read_to_string(out.join("hls/test/local/master.m3u8")).unwrap();
    assert!(master.contains("#EXT-X-STREAM-INF") && !master.contains("CLOSED-CAPTIONS"), "{master}");
}

#[test]
fn an_rtmp_publisher_through_nginx_keeps_its_captions_in_every_rendition() {
    let dir = tempfile::tempdir().unwrap();
    let nginx = Nginx::start(&["live"]);
    let url = nginx.url("live", "key");
    let publisher = RtmpPublisher::file(&url, &captioned_source());
    let out = dir.path().join("out");
    // The default ORIGINAL mode (a 2 s GOP source: copied when the mode allows it) beside a
    // scaled rung decimated to 30 fps and one cascaded from it (scaled from its pictures:
    // at least twice as large, and smaller than the source).
    let args = ["--hls-time", "2", "--source-timeout", "20", "--resolutions", "ORIGINAL,426x240-30,212x120-30"];
    let (output, _, text) = transcode(&url, &out, &args);
    assert!(publisher.wait(), "publisher failed");
    assert!(output.status.success(), "{text}\nnginx: {}", nginx.error_log());
    let labels = assert_captions_everywhere(&out.join("hls/test/local"), dir.path(), true);
    assert_eq!(labels.len(), 3, "{text}");
}

#[test]
fn a_copied_original_alone_keeps_its_captions_and_declares_them_without_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let source = captioned_source();
    let args = ["--hls-time", "2", "--resolutions", "ORIGINAL", "--original-mode", "copy"];
    let (output, _, text) = transcode(source.to_str().unwrap(), &out, &args);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("original=\"copied\"") || text.contains("original=copied"), "{text}");
    let labels = assert_captions_everywhere(&out.join("hls/test/local"), dir.path(), false);
    assert_eq!(labels, ["640x360-60"]);
}
