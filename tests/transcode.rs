//! `hls-ladder transcode` end to end: the real binary, real FFmpeg libraries, nginx-rtmp and
//! the ffmpeg CLI as publisher, ffprobe as the judge of what was written.

pub mod support;

use support::util;
use support::webvtt;

use std::path::Path;

use support::util::*;

fn stream_dir(out: &Path) -> std::path::PathBuf {
    out.join("hls/test/local")
}

/// Checks every invariant of a finished rendition directory and returns its entries.
fn check_rendition(dir: &Path, hls_time: f64) -> Vec<(f64, String)> {
    let (entries, ended) = playlist_entries(&dir.join("live.m3u8"));
    assert!(ended, "{}: live.m3u8 has no ENDLIST", dir.display());
    assert!(!entries.is_empty());
    for (i, (duration, uri)) in entries.iter().enumerate() {
        let file = dir.join(uri);
        assert!(file.exists(), "{} lists missing {uri}", dir.display());
        let (key, _) = first_video_frame(&file);
        assert!(key, "{}/{uri} does not start with a keyframe", dir.display());
        let kf = keyframes(&file);
        assert_eq!(kf.iter().filter(|k| **k).count(), 1, "{}/{uri}: keyframes inside a segment", dir.display());
        if i + 1 < entries.len() {
            assert!(*duration <= hls_time + 0.1 && *duration >= hls_time - 0.1, "{uri}: EXTINF {duration}");
        }
    }
    entries
}

#[test]
fn the_tests_webvtt_parser_accepts_valid_tracks_and_rejects_what_players_reject() {
    let cues = webvtt::parse(
        "WEBVTT - thumbnails\r\n\r\nintro\r\n00:01.500 --> 01:00:02.000 line:0\r\na.jpg#xywh=0,0,10,10\r\n",
    )
    .unwrap();
    assert_eq!(
        cues,
        [webvtt::Cue {
            id: Some("intro".into()),
            start_ms: 1500,
            end_ms: 3_602_000,
            text: "a.jpg#xywh=0,0,10,10".into()
        }]
    );
    assert_eq!(webvtt::parse("WEBVTT\n").unwrap(), []);
    for bad in [
        "",
        "WEBVTTX\n",
        "webvtt\n",
        "WEBVTT\n00:00.000 --> 00:01.000\na.jpg\n",
        "WEBVTT\n\n00:00.000 --> 00:00.000\na.jpg\n",
        "WEBVTT\n\n00:00.000 --> 00:60.000\na.jpg\n",
        "WEBVTT\n\n0:00:00.000 --> 00:01.000\na.jpg\n",
        "WEBVTT\n\n00:00.00 --> 00:01.000\na.jpg\n",
        "WEBVTT\n\n00:00.000-->00:01.000\na.jpg\n",
        "WEBVTT\n\n00:02.000 --> 00:03.000\na.jpg\n\n00:01.000 --> 00:04.000\nb.jpg\n",
        "WEBVTT\n\nno timings here\n",
    ] {
        assert!(webvtt::parse(bad).is_err(), "accepted {bad:?}");
    }
}

#[test]
fn testsrc_produces_an_aligned_ladder_with_previews_and_recording() {
    let out = tempfile::tempdir().unwrap();
    let (output, events, text) = transcode(
        "testsrc",
        out.path(),
        &[
            "--duration",
            "7",
            "--hls-time",
            "2",
            "--resolutions",
            "1280x720-30~2000,640x360-30,426x240-15",
            "--previews",
            "256x144,2",
            "--record",
        ],
    );
    assert!(output.status.success(), "{text}");
    let dir = stream_dir(out.path());
    let labels = ["1280x720-30~2000", "640x360-30", "426x240-15"];
    let mut starts = Vec::new();
    for label in labels {
        let rdir = dir.join(label);
        let entries = check_rendition(&rdir, 2.0);
        assert_eq!(entries.len(), 4, "{label}: 7 s in 2 s segments\n{text}");
        let names: Vec<_> = entries.iter().map(|e| e.1.as_str()).collect();
        assert_eq!(names, ["0.ts", "1.ts", "2.ts", "3.ts"]);
        let total: f64 = entries.iter().map(|e| e.0).sum();
        assert!((total - 7.0).abs() < 0.07, "{label}: total {total}");
        starts.push(entries.iter().map(|(_, u)| first_video_frame(&rdir.join(u)).1).collect::<Vec<_>>());
        let (w, h, fps) = video_geometry(&rdir.join("0.ts"));
        let expected = match label {
            "1280x720-30~2000" => (1280, 720, "30/1"),
            "640x360-30" => (640, 360, "30/1"),
            _ => (426, 240, "15/1"),
        };
        assert_eq!((w, h, fps.as_str()), expected, "{label}");
        // Recording playlist: finished VOD with every segment from 0.
        let vod = std::fs::read_to_string(rdir.join("vod-0.m3u8")).unwrap();
        assert!(vod.contains("#EXT-X-PLAYLIST-TYPE:VOD") && vod.contains("#EXT-X-ENDLIST"), "{vod}");
        assert_eq!(tag_value(&vod, "#EXT-X-MEDIA-SEQUENCE").as_deref(), Some("0"));
    }
    // Every rendition cuts at the same presentation times.
    assert_eq!(starts[0], starts[1], "720p vs 360p segment starts");
    for (a, b) in starts[0].iter().zip(&starts[2]) {
        assert!((a - b).abs() < 1.0 / 15.0 + 1e-6, "15 fps rendition within one of its frames: {a} vs {b}");
    }

    let master = std::fs::read_to_string(dir.join("master.m3u8")).unwrap();
    assert!(master.contains("RESOLUTION=1280x720") && master.contains("FRAME-RATE=30.000"), "{master}");
    assert!(master.contains("CODECS=\"avc1.") && master.contains("mp4a.40.2"), "{master}");
    for label in labels {
        assert!(master.contains(&format!("{label}/live.m3u8")), "{master}");
    }
    // The master playlist plays as a whole in a real HLS client.
    let probe = ffprobe(&dir.join("master.m3u8"), &["-show_entries", "format=duration"]);
    let duration: f64 = probe["format"]["duration"].as_str().unwrap().parse().unwrap();
    assert!((duration - 7.0).abs() < 0.5, "master duration {duration}");

    let previews = out.path().join("img-preview/test/local/256x144-2");
    let index = std::fs::read_to_string(previews.join("index.json")).unwrap();
    assert_eq!(index, r#"{"index_start":0,"count":4,"pattern":"%d.jpg"}"#);
    for n in 0..4 {
        let (w, h, _) = video_geometry(&previews.join(format!("{n}.jpg")));
        assert_eq!((w, h), (256, 144));
    }
    // The thumbnail track: one cue per preview over [2n, 2n + 2) s of the recording's time,
    // naming the image relative to the track.
    let track = std::fs::read_to_string(previews.join("thumbnails.vtt")).unwrap();
    let cues = webvtt::parse(&track).unwrap_or_else(|e| panic!("invalid WebVTT: {e}\n{track}"));
    let spans: Vec<(u64, u64, &str)> = cues.iter().map(|c| (c.start_ms, c.end_ms, c.text.as_str())).collect();
    assert_eq!(spans, [(0, 2000, "0.jpg"), (2000, 4000, "1.jpg"), (4000, 6000, "2.jpg"), (6000, 8000, "3.jpg")]);
    for cue in &cues {
        assert!(previews.join(&cue.text).is_file(), "{} is not beside the track", cue.text);
    }

    // Events: started first (`alive` may come at any time), closed last, each index announced
    // once and after its file exists.
    let first = events.iter().find(|e| e["event"] != "alive").unwrap();
    assert_eq!(first["event"], "started", "{text}");
    assert_eq!(events.last().unwrap()["event"], "closed", "{text}");
    assert!(events.last().unwrap()["error_code"].is_null(), "{text}");
    let available = events_of(&events, "index_available");
    let files: Vec<_> = available.iter().map(|e| e["index_file"].as_str().unwrap().to_string()).collect();
    let mut unique = files.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), files.len(), "an index was announced twice: {files:?}");
    assert_eq!(files.len(), 3 + 3 + 1, "{files:?}");
    for f in &files {
        assert!(out.path().join(f).exists(), "announced {f} does not exist");
    }
    assert_eq!(events_of(&events, "segment").len(), 4);
}

#[test]
fn an_rtmp_stream_from_nginx_is_transcoded_until_the_publisher_leaves() {
    let nginx = Nginx::start(&["live"]);
    let url = nginx.url("live", "secretkey");
    let publisher = RtmpPublisher::start(&url, "size=640x360:rate=30", true, 7);
    let out = tempfile::tempdir().unwrap();
    let (output, events, text) = transcode(
        &url,
        out.path(),
        &["--hls-time", "2", "--resolutions", "ORIGINAL,426x240-30", "--source-timeout", "20"],
    );
    assert!(publisher.wait(), "publisher failed");
    assert!(output.status.success(), "{text}\nnginx: {}", nginx.error_log());
    let dir = stream_dir(out.path());
    let a = check_rendition(&dir.join("640x360-30"), 2.0);
    let b = check_rendition(&dir.join("426x240-30"), 2.0);
    assert!(a.len() >= 3, "{a:?}\n{text}");
    assert_eq!(a.iter().map(|e| &e.1).collect::<Vec<_>>(), b.iter().map(|e| &e.1).collect::<Vec<_>>());
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(!said.contains("secretkey"), "stream key leaked into the output:\n{said}");
    assert_eq!(events.last().unwrap()["reason"], "EndOfStream", "{text}");
}

#[test]
fn an_ntsc_source_keeps_its_rate_and_rounds_the_label() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("ntsc.mp4");
    make_media(
        &src,
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=30000/1001",
            "-t",
            "4",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
        ],
    );
    let out = dir.path().join("out");
    let (output, _, text) =
        transcode(src.to_str().unwrap(), &out, &["--hls-time", "2", "--resolutions", "ORIGINAL,640x360-30"]);
    assert!(output.status.success(), "{text}");
    let rdir = stream_dir(&out).join("640x360-30");
    assert!(!stream_dir(&out).join("640x360-29").exists());
    let (_, _, fps) = video_geometry(&rdir.join("0.ts"));
    assert_eq!(fps, "30000/1001");
    let (entries, _) = playlist_entries(&rdir.join("live.m3u8"));
    assert_eq!(entries[0].0, 2.002, "boundary at frame ceil(2*29.97)=60");
}

#[test]
fn an_odd_sized_source_is_padded_and_keeps_its_label() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("odd.mkv");
    // 4:4:4 so that the odd size survives; it also exercises pixel format conversion.
    make_media(
        &src,
        &["-f", "lavfi", "-i", "testsrc=size=321x181:rate=25", "-pix_fmt", "yuv444p", "-t", "3", "-c:v", "ffv1"],
    );
    let out = dir.path().join("out");
    let (output, _, text) = transcode(src.to_str().unwrap(), &out, &["--resolutions", "ORIGINAL"]);
    assert!(output.status.success(), "{text}");
    let rdir = stream_dir(&out).join("321x181-25");
    let (w, h, _) = video_geometry(&rdir.join("0.ts"));
    assert_eq!((w, h), (322, 182));
    let master = std::fs::read_to_string(stream_dir(&out).join("master.m3u8")).unwrap();
    assert!(master.contains("RESOLUTION=322x182"), "{master}");
}

#[test]
fn a_source_without_audio_gives_video_only_segments() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("silent.mp4");
    make_media(
        &src,
        &["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-t", "3", "-c:v", "libx264", "-preset", "ultrafast"],
    );
    let out = dir.path().join("out");
    let (output, _, text) = transcode(src.to_str().unwrap(), &out, &["--resolutions", "ORIGINAL"]);
    assert!(output.status.success(), "{text}");
    let seg = stream_dir(&out).join("320x240-30/0.ts");
    let streams = ffprobe(&seg, &["-show_entries", "stream=codec_type"]);
    assert_eq!(streams["streams"].as_array().unwrap().len(), 1, "{streams}");
    let master = std::fs::read_to_string(stream_dir(&out).join("master.m3u8")).unwrap();
    assert!(!master.contains("mp4a"), "{master}");
}

#[test]
fn an_unreachable_source_fails_fast_with_a_clear_error_and_writes_nothing() {
    let out = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("rtmp://127.0.0.1:{port}/live/topsecret");
    let started = std::time::Instant::now();
    let (output, events, text) = transcode(&url, out.path(), &["--source-timeout", "10"]);
    assert!(!output.status.success(), "{text}");
    assert!(started.elapsed().as_secs() < 10, "took {:?}", started.elapsed());
    let closed = events.last().unwrap();
    assert_eq!(closed["event"], "closed");
    assert_eq!(closed["error_code"], "SOURCE_UNREACHABLE", "{text}");
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(!said.contains("topsecret"), "stream key leaked: {said}");
    assert!(tree(out.path()).is_empty(), "{:?}", tree(out.path()));
}

#[test]
fn a_corrupt_file_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("garbage.mp4");
    std::fs::write(&src, (0..200_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect::<Vec<_>>())
        .unwrap();
    let out = dir.path().join("out");
    let (output, events, text) = transcode(src.to_str().unwrap(), &out, &[]);
    assert!(!output.status.success(), "{text}");
    assert!(events.last().unwrap()["message"].as_str().unwrap().contains("garbage.mp4"), "{text}");
    assert!(tree(&out).is_empty());
}

#[test]
fn a_truncated_file_is_transcoded_up_to_where_it_breaks() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("full.ts");
    make_media(
        &src,
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=30",
            "-t",
            "6",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-f",
            "mpegts",
        ],
    );
    let bytes = std::fs::read(&src).unwrap();
    let cut = dir.path().join("cut.ts");
    std::fs::write(&cut, &bytes[..bytes.len() / 2 + 77]).unwrap();
    let out = dir.path().join("out");
    let (output, _, text) = transcode(cut.to_str().unwrap(), &out, &["--hls-time", "1", "--resolutions", "ORIGINAL"]);
    assert!(output.status.success(), "{text}");
    let entries = check_rendition(&stream_dir(&out).join("320x240-30"), 1.0);
    assert!(entries.len() >= 2, "{entries:?}");
}

#[test]
fn the_fragment_limit_ends_the_stream_after_exactly_that_many_segments() {
    let out = tempfile::tempdir().unwrap();
    let (output, events, text) =
        transcode("testsrc", out.path(), &["--hls-time", "1", "--fragment-limit", "3", "--resolutions", "320x180-30"]);
    assert!(!output.status.success(), "the limit is reported as an error code: {text}");
    assert_eq!(events.last().unwrap()["error_code"], "FRAGMENT_LIMIT", "{text}");
    let (entries, ended) = playlist_entries(&stream_dir(out.path()).join("320x180-30/live.m3u8"));
    assert!(ended);
    assert_eq!(entries.iter().map(|e| e.1.as_str()).collect::<Vec<_>>(), ["0.ts", "1.ts", "2.ts"]);
    assert!(!stream_dir(out.path()).join("320x180-30/3.ts").exists());
}

#[test]
fn the_live_window_slides_and_old_segments_are_deleted() {
    let out = tempfile::tempdir().unwrap();
    let (output, _, text) = transcode(
        "testsrc",
        out.path(),
        &["--hls-time", "1", "--duration", "8", "--live-size", "2", "--resolutions", "320x180-30"],
    );
    assert!(output.status.success(), "{text}");
    let rdir = stream_dir(out.path()).join("320x180-30");
    let text_pl = std::fs::read_to_string(rdir.join("live.m3u8")).unwrap();
    let (entries, _) = playlist_entries(&rdir.join("live.m3u8"));
    assert_eq!(entries.len(), 2, "{text_pl}");
    assert_eq!(tag_value(&text_pl, "#EXT-X-MEDIA-SEQUENCE").as_deref(), Some("6"), "{text_pl}");
    let segments: Vec<_> = tree(&rdir).into_iter().filter(|f| f.ends_with(".ts")).collect();
    assert!(segments.len() <= 4, "at most 2L segments kept: {segments:?}");
    assert!(!rdir.join("vod-0.m3u8").exists());
}

#[test]
fn a_mid_stream_resolution_change_keeps_every_rendition_size() {
    let dir = tempfile::tempdir().unwrap();
    let joined = make_resolution_change(dir.path());
    let out = dir.path().join("out");
    let (output, _, text) =
        transcode(joined.to_str().unwrap(), &out, &["--hls-time", "1", "--resolutions", "ORIGINAL,320x180-30"]);
    assert!(output.status.success(), "{text}");
    for (label, size) in [("640x360-30", (640, 360)), ("320x180-30", (320, 180))] {
        let entries = check_rendition(&stream_dir(&out).join(label), 1.0);
        assert!(entries.len() >= 5, "{label}: {entries:?}\n{text}");
        let last = stream_dir(&out).join(label).join(&entries.last().unwrap().1);
        let (w, h, _) = video_geometry(&last);
        assert_eq!((w, h), size, "{label}: the square part is fitted and padded into the same size");
    }
}

#[test]
fn a_silent_rtmp_source_ends_with_a_timeout_error_in_bounded_time() {
    let nginx = Nginx::start(&["live"]);
    let out = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    // Nobody publishes: nginx holds the player idle forever.
    let (output, events, text) = transcode(&nginx.url("live", "nobody"), out.path(), &["--source-timeout", "3"]);
    let took = started.elapsed();
    assert!(!output.status.success(), "{text}");
    assert!(took.as_secs_f64() < 10.0, "took {took:?}\n{text}");
    assert_eq!(events.last().unwrap()["error_code"], "SOURCE_TIMEOUT", "{text}");
    assert!(tree(out.path()).is_empty());
}

#[test]
fn ctrl_c_finishes_the_stream_with_endlist_and_a_clean_exit() {
    let nginx = Nginx::start(&["live"]);
    let url = nginx.url("live", "k");
    let _publisher = RtmpPublisher::start(&url, "size=320x180:rate=30", true, 60);
    let out = tempfile::tempdir().unwrap();
    let child = std::process::Command::new(bin())
        .args(["transcode", &url])
        .arg(out.path())
        .args(["--events", "jsonl", "--hls-time", "1", "--resolutions", "ORIGINAL"])
        .args(PINNED_ORIGINAL_MODE)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let live = stream_dir(out.path()).join("320x180-30/live.m3u8");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !live.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_secs(2));
    // SAFETY: plain signal to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let started = std::time::Instant::now();
    let output = child.wait_with_output().unwrap();
    let text = describe("transcode (interrupted)", &output);
    assert!(started.elapsed().as_secs() < 5, "took {:?} to stop\n{text}", started.elapsed());
    assert!(output.status.success(), "{text}");
    let last: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&output.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(last["reason"], "Stopped", "{text}");
    let entries = check_rendition(&stream_dir(out.path()).join("320x180-30"), 1.0);
    assert!(entries.len() >= 2, "{entries:?}");
}

#[test]
fn audio_that_starts_after_the_source_opened_joins_every_rendition_at_a_segment_boundary() {
    let media = tempfile::tempdir().unwrap();
    let file = media.path().join("late-audio.flv");
    make_media(
        &file,
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x180:rate=30",
            "-itsoffset",
            "8",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440",
            "-t",
            "11",
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "30",
            "-c:a",
            "aac",
            "-shortest",
            "-f",
            "flv",
        ],
    );
    let nginx = Nginx::start(&["live"]);
    let url = nginx.url("live", "k");
    let mut publisher = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-re", "-i"])
        .arg(&file)
        .args(["-c", "copy", "-f", "flv", &url])
        .spawn()
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    let (output, events, text) = transcode(&url, out.path(), &["--hls-time", "1", "--resolutions", "320x180-30"]);
    assert!(publisher.wait().unwrap().success());
    assert!(output.status.success(), "{text}");
    let started = events_of(&events, "started");
    assert_eq!(started[0]["audio"], false, "libav opened the source before its audio came\n{text}");
    assert!(text.contains("audio began after the source opened"), "{text}");
    let stream = stream_dir(out.path());
    let dir = stream.join("320x180-30");
    let live = std::fs::read_to_string(dir.join("live.m3u8")).unwrap();
    let (entries, ended) = playlist_entries(&dir.join("live.m3u8"));
    assert!(ended && entries.len() >= 4, "{live}");
    // Segments before the boundary are video-only, those after carry AAC; exactly one
    // discontinuity, right before the first segment with audio.
    let streams_in = |file: &str| {
        let kinds = ffprobe(&dir.join(file), &["-show_entries", "stream=codec_type"]);
        kinds["streams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["codec_type"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let kinds: Vec<Vec<String>> = entries.iter().map(|(_, file)| streams_in(file)).collect();
    let first_audio =
        kinds.iter().position(|k| k.len() == 2).unwrap_or_else(|| panic!("no segment with audio: {kinds:?}\n{live}"));
    assert!(first_audio >= 1, "the first segment was cut before the audio came: {kinds:?}");
    assert!(kinds[..first_audio].iter().all(|k| k == &["video"]), "{kinds:?}");
    assert!(kinds[first_audio..].iter().all(|k| k == &["video", "audio"]), "{kinds:?}");
    assert_eq!(live.matches("#EXT-X-DISCONTINUITY\n").count(), 1, "{live}");
    let after_discontinuity = live
        .split("#EXT-X-DISCONTINUITY\n")
        .nth(1)
        .and_then(|rest| rest.lines().find(|l| !l.starts_with('#')))
        .unwrap_or_default();
    assert_eq!(after_discontinuity, entries[first_audio].1, "{live}");
    // The audio starts with the segment: its first packet is at the segment's first frame.
    let file = dir.join(&entries[first_audio].1);
    let starts = ffprobe(&file, &["-show_entries", "stream=codec_type,start_time"]);
    let start_of = |kind: &str| -> f64 {
        starts["streams"].as_array().unwrap().iter().find(|s| s["codec_type"] == kind).unwrap()["start_time"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!((start_of("audio") - start_of("video")).abs() < 0.05, "{starts}");
    let master = std::fs::read_to_string(stream.join("master.m3u8")).unwrap();
    assert!(master.contains("CODECS=\"avc1.") && master.contains(",mp4a.40.2\""), "{master}");
}

#[test]
fn json_logs_name_the_stream_on_every_line_of_a_job() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut cmd = std::process::Command::new(util::bin());
    cmd.args(["transcode", "testsrc"]).arg(&out).args(["--duration", "2", "--events", "jsonl", "--channel", "ch7"]);
    cmd.env("LOG_JSON", "YES").env("LOG_DEBUG", "YES").env_remove("RUST_LOG");
    let output = util::run(&mut cmd);
    let text = util::describe(&format!("{cmd:?}"), &output);
    assert!(output.status.success(), "{text}");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stderr)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}")))
        .collect();
    assert!(lines.len() >= 2, "{text}");
    for line in &lines {
        assert_eq!(line["span"]["channel"], "ch7", "{line}");
        assert_eq!(line["span"]["stream_id"], "local", "{line}");
    }
}

#[test]
fn a_pipeline_hopelessly_behind_a_live_source_drops_whole_gops_and_the_timeline_has_no_hole() {
    let nginx = Nginx::start(&["live"]);
    let url = nginx.url("live", "k");
    let publisher = RtmpPublisher::start(&url, "size=1280x720:rate=30", true, 12);
    let out = tempfile::tempdir().unwrap();
    // x264's veryslow preset on 720p runs far below real time on any machine we know.
    let (output, _events, text) = transcode(
        &url,
        out.path(),
        &["--hls-time", "1", "--resolutions", "ORIGINAL", "--preset", "veryslow", "--drop-behind", "3"],
    );
    assert!(publisher.wait(), "publisher failed");
    assert!(output.status.success(), "{text}");
    assert!(text.contains("dropping whole GOPs"), "{text}");
    assert!(text.contains("back at the live edge"), "{text}");
    let dir = stream_dir(out.path());
    let entries = check_rendition(&dir.join("1280x720-30"), 1.0);
    let total: f64 = entries.iter().map(|(d, _)| d).sum();
    assert!(total < 11.0, "{total} s published of 12 s sent: something must have been dropped\n{text}");
    // The output timeline continues without a hole: it plays straight through.
    let (converted, warnings) = to_mp4(&dir.join("1280x720-30/live.m3u8"), &out.path().join("out.mp4"));
    assert!(converted && warnings.is_empty(), "{warnings}");
}
