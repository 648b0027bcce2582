//! ORIGINAL without re-encoding (`--original-mode copy|auto`), end to end: publishers through
//! nginx-rtmp, the real binary, ffprobe as the judge of what was written.

pub mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::util::*;

fn stream_dir(out: &Path) -> PathBuf {
    out.join("hls/test/local")
}

/// An FLV file as OBS would send it: H.264 Main with B-frames and an IDR at `keyframes`
/// (ffmpeg's `-force_key_frames`, no other keyframe), AAC-LC stereo at 44.1 kHz.
fn obs_like_source(path: &Path, seconds: u32, keyframes: &str) {
    let keyint = "keyint=10000:min-keyint=1:scenecut=0";
    let mut args = lavfi_inputs("testsrc2=size=854x480:rate=30", true);
    let encode: &[&str] = &[
        "-t",
        &seconds.to_string(),
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-profile:v",
        "main",
        "-pix_fmt",
        "yuv420p",
        "-x264-params",
        keyint,
        "-force_key_frames",
        keyframes,
        "-c:a",
        "aac",
        "-ac",
        "2",
        "-b:a",
        "96k",
        "-f",
        "flv",
    ];
    args.extend(encode.iter().map(|a| a.to_string()));
    make_media(path, &args);
}

/// Publishes `source` through nginx-rtmp and transcodes it with `args`.
fn transcode_published(source: &Path, out: &Path, args: &[&str]) -> (std::process::Output, String) {
    let nginx = Nginx::start(&["live"]);
    let url = nginx.url("live", "key");
    let publisher = RtmpPublisher::file(&url, source);
    let mut all = vec!["--source-timeout", "20"];
    all.extend_from_slice(args);
    let (output, _, text) = transcode(&url, out, &all);
    assert!(publisher.wait(), "publisher failed");
    assert!(output.status.success(), "{text}\nnginx: {}", nginx.error_log());
    (output, text)
}

/// MD5 of every packet of one stream type (`v` or `a`) of a transport stream.
fn packet_hashes(path: &Path, stream: &str) -> Vec<String> {
    let v = ffprobe(
        path,
        &["-select_streams", &format!("{stream}:0"), "-show_data_hash", "MD5", "-show_entries", "packet=data_hash"],
    );
    v["packets"].as_array().unwrap().iter().map(|p| p["data_hash"].as_str().unwrap().to_string()).collect()
}

/// The rendition's segments back to back in one file, as a player reads them.
fn concatenated(dir: &Path, into: &Path) -> Vec<(f64, String)> {
    let (entries, ended) = playlist_entries(&dir.join("live.m3u8"));
    assert!(ended, "{}: no ENDLIST", dir.display());
    let mut bytes = Vec::new();
    for (_, uri) in &entries {
        bytes.extend(std::fs::read(dir.join(uri)).unwrap());
    }
    std::fs::write(into, bytes).unwrap();
    entries
}

fn is_contiguous_run(part: &[String], whole: &[String]) -> bool {
    !part.is_empty() && whole.windows(part.len()).any(|w| w == part)
}

/// ORIGINAL's bytes are the source's packets: a contiguous run of them (a live stream is
/// joined at some keyframe), video and audio. Returns ORIGINAL's playlist entries.
fn assert_copied(source: &Path, original: &Path, tmp: &Path) -> Vec<(f64, String)> {
    let reference = tmp.join("reference.ts");
    let mut remux = Command::new("ffmpeg");
    remux.args(["-hide_banner", "-loglevel", "error", "-y", "-i"]).arg(source).args(["-c", "copy", "-f", "mpegts"]);
    let done = run(remux.arg(&reference));
    assert!(done.status.success(), "{}", describe("ffmpeg remux", &done));
    let copied = tmp.join("original.ts");
    let entries = concatenated(original, &copied);
    let (ours, theirs) = (packet_hashes(&copied, "v"), packet_hashes(&reference, "v"));
    assert!(is_contiguous_run(&ours, &theirs), "video packets differ from the source's");
    let (ours, theirs) = (packet_hashes(&copied, "a"), packet_hashes(&reference, "a"));
    assert!(ours.len() > 100 && is_contiguous_run(&ours[1..ours.len() - 1], &theirs), "audio packets differ");
    entries
}

fn segment_starts(dir: &Path, entries: &[(f64, String)]) -> Vec<(bool, f64)> {
    entries.iter().map(|(_, uri)| first_video_frame(&dir.join(uri))).collect()
}

#[test]
fn copy_mode_passes_the_source_through_keyframe_aligned_with_the_transcoded_rung() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("obs.flv");
    obs_like_source(&source, 9, "expr:gte(t,n_forced*2)");
    let out = dir.path().join("out");
    let (_, text) = transcode_published(
        &source,
        &out,
        &["--hls-time", "2", "--resolutions", "ORIGINAL,640x360-30", "--original-mode", "copy"],
    );
    assert!(text.contains("original=\"copied\"") || text.contains("original=copied"), "{text}");
    let stream = stream_dir(&out);
    let original = stream.join("854x480-30");
    let small = stream.join("640x360-30");

    let entries = assert_copied(&source, &original, dir.path());
    assert!(entries.len() >= 3, "{entries:?}\n{text}");

    // Both renditions: the same segments, each starting with an IDR at the same time.
    let (small_entries, _) = playlist_entries(&small.join("live.m3u8"));
    let names = |e: &[(f64, String)]| e.iter().map(|(_, u)| u.clone()).collect::<Vec<_>>();
    assert_eq!(names(&entries), names(&small_entries));
    let a = segment_starts(&original, &entries);
    let b = segment_starts(&small, &small_entries);
    assert!(a.iter().chain(&b).all(|(key, _)| *key), "a segment does not start with a keyframe: {a:?} {b:?}");
    assert_eq!(a.iter().map(|s| s.1).collect::<Vec<_>>(), b.iter().map(|s| s.1).collect::<Vec<_>>());
    for (duration, uri) in &entries[..entries.len() - 1] {
        assert!((duration - 2.0).abs() < 0.05, "{uri}: EXTINF {duration} with 2 s keyframes\n{text}");
        assert_eq!(keyframes(&original.join(uri)).iter().filter(|k| **k).count(), 1, "{uri}");
    }

    // The master's CODECS come from the source's SPS (Main), and the whole plays.
    let master = std::fs::read_to_string(stream.join("master.m3u8")).unwrap();
    let line = master.lines().find(|l| l.contains("RESOLUTION=854x480")).unwrap_or_else(|| panic!("{master}"));
    assert!(line.contains("CODECS=\"avc1.4d") && line.contains("mp4a.40.2"), "{master}");
    assert!(!master.contains("DISCONTINUITY"));
    let (played, errors) = play(&stream.join("master.m3u8"));
    assert!(played && errors.is_empty(), "ffmpeg play: {errors}");
}

#[test]
fn auto_mode_encodes_original_from_the_next_boundary_when_keyframes_stop_coming() {
    // IDRs every 2 s for 6 s, then none until 16 s: the copy ends when the gap passes 2·T.
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("growing.flv");
    obs_like_source(&source, 12, "0,2,4,6,16");
    let out = dir.path().join("out");
    let (_, text) = transcode_published(
        &source,
        &out,
        &["--hls-time", "2", "--resolutions", "ORIGINAL,640x360-30", "--original-mode", "auto"],
    );
    assert!(text.contains("ORIGINAL is encoded from segment"), "{text}");
    let stream = stream_dir(&out);
    let original = stream.join("854x480-30");
    let playlist = std::fs::read_to_string(original.join("live.m3u8")).unwrap();
    let (entries, _) = playlist_entries(&original.join("live.m3u8"));
    assert!(entries.len() >= 5, "{playlist}");
    assert_eq!(playlist.matches("#EXT-X-DISCONTINUITY\n").count(), 1, "{playlist}");
    // Every segment still starts with a keyframe, at the same time in both renditions; the
    // encoded ones have one IDR each, every T.
    let (small_entries, _) = playlist_entries(&stream.join("640x360-30/live.m3u8"));
    let a = segment_starts(&original, &entries);
    let b = segment_starts(&stream.join("640x360-30"), &small_entries);
    assert!(a.iter().chain(&b).all(|(key, _)| *key), "{a:?} {b:?}\n{playlist}");
    assert_eq!(a.iter().map(|s| s.1).collect::<Vec<_>>(), b.iter().map(|s| s.1).collect::<Vec<_>>());
    for (duration, uri) in &entries[..entries.len() - 1] {
        assert!(*duration <= 4.0 + 0.1, "{uri}: EXTINF {duration}\n{playlist}");
    }
    // The playlist plays through the switch.
    let play = run(Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(original.join("live.m3u8"))
        .args(["-f", "null", "-"]));
    assert!(play.status.success(), "{}", describe("ffmpeg play", &play));
}

#[test]
fn a_source_with_8_s_gops_is_encoded_in_auto_mode_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("long-gop.flv");
    obs_like_source(&source, 10, "expr:gte(t,n_forced*8)");
    let out = dir.path().join("out");
    // ORIGINAL alone: nothing is decoded until the gap shows, then from the last keyframe.
    let (_, text) = transcode_published(
        &source,
        &out,
        &["--hls-time", "2", "--resolutions", "ORIGINAL", "--original-mode", "auto"],
    );
    assert!(text.contains("WARN") && text.contains("ORIGINAL is encoded from segment"), "{text}");
    let original = stream_dir(&out).join("854x480-30");
    let (entries, _) = playlist_entries(&original.join("live.m3u8"));
    // At most the first segment is copied (up to 2·T); every later one is encoded every T.
    for (duration, uri) in &entries[1..entries.len() - 1] {
        assert!((duration - 2.0).abs() < 0.05, "{uri}: EXTINF {duration}\n{text}");
        assert!(first_video_frame(&original.join(uri)).0, "{uri}");
    }
}

#[test]
fn a_source_that_is_not_4_2_0_h264_is_encoded_even_in_copy_mode() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("full-chroma.mp4");
    make_media(
        &src,
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=30",
            "-t",
            "3",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv444p",
        ],
    );
    let out = dir.path().join("out");
    let (output, _, text) = transcode(
        src.to_str().unwrap(),
        &out,
        &["--hls-time", "2", "--resolutions", "ORIGINAL", "--original-mode", "copy"],
    );
    assert!(output.status.success(), "{text}");
    assert!(text.contains("ERROR") && text.contains("not 8-bit 4:2:0"), "{text}");
    let segment = stream_dir(&out).join("640x360-30/0.ts");
    let v = ffprobe(&segment, &["-select_streams", "v:0", "-show_entries", "stream=pix_fmt"]);
    assert_eq!(v["streams"][0]["pix_fmt"], "yuv420p");
}

#[test]
fn a_resolution_change_in_copied_video_is_a_discontinuity_and_the_other_rungs_keep_their_size() {
    let dir = tempfile::tempdir().unwrap();
    let joined = make_resolution_change(dir.path());
    let out = dir.path().join("out");
    let (output, _, text) = transcode(
        joined.to_str().unwrap(),
        &out,
        &["--hls-time", "2", "--resolutions", "ORIGINAL,320x180-30", "--original-mode", "copy"],
    );
    assert!(output.status.success(), "{text}");
    let original = stream_dir(&out).join("640x360-30");
    let playlist = std::fs::read_to_string(original.join("live.m3u8")).unwrap();
    let (entries, _) = playlist_entries(&original.join("live.m3u8"));
    // 0-2 s, 2-3 s (cut at the new parameters), then the square part from 3 s.
    let durations: Vec<f64> = entries.iter().map(|e| e.0).collect();
    assert_eq!(durations[..2], [2.0, 1.0], "{playlist}");
    let seam = playlist.find("#EXT-X-DISCONTINUITY").unwrap_or_else(|| panic!("{playlist}"));
    assert!(playlist[seam..].lines().find(|l| l.ends_with(".ts")) == Some("2.ts"), "{playlist}");
    assert_eq!(video_geometry(&original.join("1.ts")).0, 640);
    assert_eq!(video_geometry(&original.join("2.ts")).0, 480, "ORIGINAL carries the source as it is");
    let small = stream_dir(&out).join("320x180-30");
    for (_, uri) in playlist_entries(&small.join("live.m3u8")).0 {
        assert_eq!(video_geometry(&small.join(&uri)).0, 320, "{uri}");
        assert!(first_video_frame(&small.join(&uri)).0, "{uri}");
    }
}

#[test]
fn the_default_job_copies_original_without_decoding_it_with_no_mode_set() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("obs.flv");
    obs_like_source(&source, 7, "expr:gte(t,n_forced*2)");
    let out = dir.path().join("out");
    // No --original-mode and no HLS_ORIGINAL_MODE: `auto`, the shipped default.
    let (output, events, text) =
        transcode_as_shipped(source.to_str().unwrap(), &out, &["--hls-time", "2", "--resolutions", "ORIGINAL"]);
    assert!(output.status.success(), "{text}");
    let original = stream_dir(&out).join("854x480-30");
    let entries = assert_copied(&source, &original, dir.path());
    let durations: Vec<f64> = entries.iter().map(|e| e.0).collect();
    assert_eq!(durations, [2.0, 2.0, 2.0, 1.0], "{text}");
    assert_eq!(events_of(&events, "segment").len(), 4);
    let master = std::fs::read_to_string(stream_dir(&out).join("master.m3u8")).unwrap();
    assert!(master.contains("CODECS=\"avc1.4d401f,mp4a.40.2\""), "{master}");
}
