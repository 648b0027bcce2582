//! Low-Latency HLS parts end to end with the real binary: `transcode testsrc` in real time
//! with `--part-seconds 0.333`, its live playlists read while they grow (the rules of RFC
//! 8216bis for parts, and invariant 1 for parts: a listed byte range is in the file), then
//! its parts decoded with ffprobe.

pub mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::util;

const TARGET: f64 = 0.333;
const RENDITIONS: [&str; 3] = ["640x360-30", "320x180-30", "audio"];

#[derive(Debug, Clone, PartialEq)]
struct Part {
    duration: f64,
    uri: String,
    len: u64,
    offset: u64,
    independent: bool,
}

/// One read of a live playlist: its segments with their parts, the parts of the segment being
/// made, and the LL-HLS tags.
#[derive(Debug, Default)]
struct Snapshot {
    part_target: Option<f64>,
    hold_back: Option<f64>,
    can_block: bool,
    media_sequence: u64,
    /// (uri, EXTINF, its parts listed before it).
    segments: Vec<(String, f64, Vec<Part>)>,
    open: Vec<Part>,
    hint: Option<(String, u64)>,
    reports: Vec<String>,
    ended: bool,
}

fn attribute<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let at = line.find(&format!("{name}="))? + name.len() + 1;
    let rest = &line[at..];
    match rest.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next(),
        None => rest.split(',').next(),
    }
}

fn parse(text: &str) -> Snapshot {
    let mut s = Snapshot::default();
    let mut parts = Vec::new();
    let mut extinf = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("#EXT-X-PART-INF:") {
            s.part_target = attribute(v, "PART-TARGET").map(|t| t.parse().unwrap());
        } else if let Some(v) = line.strip_prefix("#EXT-X-SERVER-CONTROL:") {
            s.can_block = attribute(v, "CAN-BLOCK-RELOAD") == Some("YES");
            s.hold_back = attribute(v, "PART-HOLD-BACK").map(|t| t.parse().unwrap());
        } else if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            s.media_sequence = v.parse().unwrap();
        } else if let Some(v) = line.strip_prefix("#EXT-X-PART:") {
            let (len, offset) = attribute(v, "BYTERANGE").expect("parts are byte ranges").split_once('@').unwrap();
            parts.push(Part {
                duration: attribute(v, "DURATION").unwrap().parse().unwrap(),
                uri: attribute(v, "URI").unwrap().to_string(),
                len: len.parse().unwrap(),
                offset: offset.parse().unwrap(),
                independent: attribute(v, "INDEPENDENT") == Some("YES"),
            });
        } else if let Some(v) = line.strip_prefix("#EXT-X-PRELOAD-HINT:") {
            assert_eq!(attribute(v, "TYPE"), Some("PART"), "{line}");
            let start = attribute(v, "BYTERANGE-START").expect("a byte-range hint").parse().unwrap();
            s.hint = Some((attribute(v, "URI").unwrap().to_string(), start));
        } else if let Some(v) = line.strip_prefix("#EXT-X-RENDITION-REPORT:") {
            assert!(attribute(v, "LAST-MSN").is_some(), "{line}");
            s.reports.push(attribute(v, "URI").unwrap().to_string());
        } else if let Some(v) = line.strip_prefix("#EXTINF:") {
            extinf = Some(v.trim_end_matches(',').parse::<f64>().unwrap());
        } else if line == "#EXT-X-ENDLIST" {
            s.ended = true;
        } else if !line.starts_with('#') && !line.is_empty() {
            s.segments.push((line.to_string(), extinf.take().unwrap(), std::mem::take(&mut parts)));
        }
    }
    s.open = parts;
    s
}

/// The rules a part list obeys (RFC 8216bis §4.4.4.9): within the target, at least 85 % of it
/// unless it starts with an IDR or ends its segment, contiguous byte ranges from the start
/// of the segment file, the first one independent.
fn check_parts(label: &str, uri: &str, parts: &[Part], complete: bool, text: &str) {
    let mut offset = 0;
    for (i, p) in parts.iter().enumerate() {
        assert_eq!(p.uri, uri, "{label}: {text}");
        assert_eq!(p.offset, offset, "{label}: byte ranges leave no gap: {text}");
        offset += p.len;
        assert!(p.duration <= TARGET + 1e-6, "{label}: {p:?} longer than PART-TARGET: {text}");
        let last = complete && i + 1 == parts.len();
        assert!(
            p.independent || last || p.duration >= 0.85 * TARGET,
            "{label}: {p:?} under 85 % of the target: {text}"
        );
        if label != "audio" {
            assert_eq!(p.independent, i == 0, "{label}: only a segment's first video part is independent: {text}");
        } else {
            assert!(p.independent, "every audio part is: {text}");
        }
    }
}

#[test]
fn live_playlists_list_each_part_as_it_is_written_and_parts_decode_on_their_own() {
    let out = tempfile::tempdir().unwrap();
    let mut child = Command::new(util::bin())
        .args(["transcode", "testsrc"])
        .arg(out.path())
        .args(["--duration", "9", "--realtime", "YES", "--hls-time", "2", "--original-mode", "encode"])
        .args(["--segment-format", "cmaf", "--part-seconds", "0.333", "--resolutions", "640x360-30,320x180-30"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let dir = out.path().join("hls/test/local");
    // Every distinct open-segment state seen per rendition: (MSN, parts listed).
    let mut seen: BTreeMap<&str, BTreeSet<(u64, usize)>> = BTreeMap::new();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(started.elapsed() < Duration::from_secs(120), "the transcode did not end");
        for label in RENDITIONS {
            let playlist = dir.join(label).join("live.m3u8");
            let Ok(text) = std::fs::read_to_string(&playlist) else { continue };
            let s = parse(&text);
            if s.ended {
                continue;
            }
            assert_eq!(s.part_target, Some(TARGET), "{text}");
            assert!(s.can_block && s.hold_back.unwrap() >= 3.0 * TARGET - 1e-9, "{text}");
            // Every other rendition reports where it stands.
            let mut others: Vec<String> =
                RENDITIONS.iter().filter(|&&o| o != label).map(|o| format!("../{o}/live.m3u8")).collect();
            others.sort();
            let mut reports = s.reports.clone();
            reports.sort();
            assert_eq!(reports, others, "{text}");
            for (uri, extinf, parts) in &s.segments {
                if !parts.is_empty() {
                    check_parts(label, uri, parts, true, &text);
                    let sum: f64 = parts.iter().map(|p| p.duration).sum();
                    assert!((sum - extinf).abs() < 1e-3, "{label}: parts add up to {sum}, EXTINF {extinf}: {text}");
                }
            }
            let msn = s.media_sequence + s.segments.len() as u64;
            let next_uri = |n: u64| {
                let last: u64 = s.segments.last().map_or(0, |(u, _, _)| u.trim_end_matches(".m4s").parse().unwrap());
                format!("{}.m4s", if s.segments.is_empty() { 0 } else { last + n })
            };
            let (hint_uri, hint_start) = s.hint.clone().expect("a preload hint while live");
            if let Some(first) = s.open.first() {
                // Complete but not yet published (another rendition's segment is not durable
                // yet): then the hint names the next segment.
                let complete = hint_uri != first.uri;
                check_parts(label, &first.uri, &s.open, complete, &text);
                // Invariant 1 for parts: what is listed is in the file already.
                let listed = s.open.last().map(|p| p.offset + p.len).unwrap();
                let len = std::fs::metadata(dir.join(label).join(&first.uri)).unwrap().len();
                assert!(len >= listed, "{label}: {} lists {listed} bytes, the file has {len}", first.uri);
                if hint_uri == first.uri {
                    assert_eq!(hint_start, listed, "{text}");
                } else {
                    assert_eq!((hint_uri.as_str(), hint_start), (next_uri(2).as_str(), 0), "{text}");
                }
            } else {
                assert_eq!((hint_uri, hint_start), (next_uri(1), 0), "{text}");
            }
            seen.entry(label).or_default().insert((msn, s.open.len()));
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(child.wait().unwrap().success(), "{stderr}");
    // Parts were listed one at a time while their segment grew, in every rendition.
    for label in RENDITIONS {
        let growing = seen.get(label).map_or(0, |s| s.iter().filter(|(_, parts)| (1..5).contains(parts)).count());
        assert!(growing >= 6, "{label}: open-segment states seen {:?}", seen.get(label));
    }

    // Each part of a segment holds its share of the segment's frames (a part parses on its own
    // after the init segment), and init + parts, which are the segment file, decode to all of
    // them.
    let rendition = dir.join("640x360-30");
    let final_text = std::fs::read_to_string(rendition.join("live.m3u8")).unwrap();
    let s = parse(&final_text);
    let (uri, extinf, parts) = s.segments.iter().find(|(_, _, p)| p.len() > 3).expect("a segment with its parts");
    let init = std::fs::read(rendition.join("init-0.mp4")).unwrap();
    let segment = std::fs::read(rendition.join(uri)).unwrap();
    assert_eq!(parts.iter().map(|p| p.len).sum::<u64>(), segment.len() as u64, "{final_text}");
    let count = |bytes: &[u8], name: &str, what: &str| -> u64 {
        let path = out.path().join(name);
        std::fs::write(&path, [init.as_slice(), bytes].concat()).unwrap();
        let v = util::ffprobe(
            &path,
            &[
                &format!("-count_{what}s"),
                "-select_streams",
                "v:0",
                "-show_entries",
                &format!("stream=nb_read_{what}s"),
            ],
        );
        let n = v["streams"][0][format!("nb_read_{what}s")].as_str().map(str::parse);
        n.unwrap_or_else(|| panic!("{name}: {v}")).unwrap()
    };
    let mut total = 0;
    for (i, p) in parts.iter().enumerate() {
        let n = count(&segment[p.offset as usize..(p.offset + p.len) as usize], &format!("part{i}.mp4"), "packet");
        assert_eq!(n, (p.duration * 30.0).round() as u64, "part {i} of {uri}: {p:?}");
        total += n;
    }
    assert_eq!(total, (extinf * 30.0).round() as u64);
    assert_eq!(count(&segment, "whole.mp4", "frame"), total);
    // The encoder ran with the low-latency lookahead (x264 writes its settings into the
    // stream's first IDR's SEI).
    let first = String::from_utf8_lossy(&std::fs::read(rendition.join("0.m4s")).unwrap()).into_owned();
    assert!(
        first.contains("rc_lookahead=5 "),
        "x264 settings: {:?}",
        first.find("x264 - core").map(|i| &first[i..i + 400])
    );
    check_rendition_reports_name_real_playlists(&dir);
}

/// The report URIs resolve to the other renditions' playlists.
fn check_rendition_reports_name_real_playlists(dir: &Path) {
    for label in RENDITIONS {
        for other in RENDITIONS.iter().filter(|&&o| o != label) {
            assert!(dir.join(label).join("..").join(other).join("live.m3u8").is_file(), "{other}");
        }
    }
}
