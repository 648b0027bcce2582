//! The manifests parsed back with an XML parser (quick-xml, already in the build) and checked
//! against the group records they were made from.

use num_rational::Ratio;
use serde::Deserialize;

use super::*;
use crate::hls::media::init_name;

/// 2025-03-01T10:00:00.000Z
const T0: i64 = 1_740_823_200_000;
/// 2 s at 90 kHz.
const VIDEO_TICKS: u64 = 180_000;
/// AAC frames of 1024 samples at 48 kHz: cuts within one frame of every 2 s boundary.
const AUDIO_FRAME: u64 = 1024;

fn desc(label: &str, w: u32, h: u32, codecs: &str, max_kbps: Option<u32>) -> RenditionDesc {
    RenditionDesc {
        label: label.into(),
        encoded_width: w,
        encoded_height: h,
        frame_rate: Ratio::new(30000, 1001),
        codecs: codecs.into(),
        max_kbps,
    }
}

fn ladder_descs() -> Vec<RenditionDesc> {
    vec![
        desc("1280x720-30~2000", 1280, 720, "avc1.64001f", Some(2000)),
        desc("640x360-30", 640, 360, "avc1.64001e", None),
    ]
}

/// A run of the pipeline: its init segments and where its clocks stand.
struct Run {
    init: String,
    /// PROGRAM-DATE-TIME of the run's media time 0 (the run's wall-clock origin minus the
    /// timeline offset), Unix ms.
    wall_origin_ms: i64,
}

/// Group `n` whose video starts at `video_start` (90 kHz) on the stream's clock.
fn group(run: &Run, n: u64, video_start: u64, discontinuity: bool) -> Group {
    let video = |bytes: u64| Seg {
        duration: Ratio::new(VIDEO_TICKS as i64, 90_000),
        bytes,
        media: Some(SegmentMedia { start: video_start, ticks: VIDEO_TICKS, timescale: 90_000, init: run.init.clone() }),
    };
    // The audio boundary is the first AAC frame at or after the video boundary.
    let audio_at = |video: u64| (video * 48_000 / 90_000).div_ceil(AUDIO_FRAME) * AUDIO_FRAME;
    let (a_start, a_end) = (audio_at(video_start), audio_at(video_start + VIDEO_TICKS));
    Group {
        n,
        discontinuity,
        program_date_time_ms: run.wall_origin_ms + (video_start as i64) / 90,
        renditions: vec![video(500_000 + n * 1000), video(150_000)],
        audio: Some(Seg {
            duration: Ratio::new((a_end - a_start) as i64, 48_000),
            bytes: 32_000,
            media: Some(SegmentMedia {
                start: a_start,
                ticks: a_end - a_start,
                timescale: 48_000,
                init: run.init.clone(),
            }),
        }),
    }
}

/// A segment of the fixture, as the publication state has it.
struct Seg {
    duration: Ratio<i64>,
    bytes: u64,
    media: Option<SegmentMedia>,
}

/// A published group of the fixture.
struct Group {
    n: u64,
    discontinuity: bool,
    program_date_time_ms: i64,
    renditions: Vec<Seg>,
    audio: Option<Seg>,
}

/// Hands `g` to the index as the publication state does, its renditions `listed` or shed.
fn record(index: &mut DashIndex, g: &Group, listed: &[bool], live_size: u32, part: Option<bool>) {
    fn with_bytes(s: &Seg) -> Option<(&SegmentMedia, u64)> {
        Some((s.media.as_ref()?, s.bytes))
    }
    let published = Published {
        n: g.n,
        program_date_time_ms: g.program_date_time_ms,
        discontinuity: g.discontinuity,
        video: g.renditions.iter().zip(listed).map(|(s, &on)| with_bytes(s).filter(|_| on)).collect(),
        audio: g.audio.as_ref().and_then(with_bytes),
    };
    index.record(&published, live_size, part);
}

fn both() -> [bool; 2] {
    [true, true]
}

// ---- the manifest as an XML parser reads it ----

#[derive(Debug, Deserialize)]
struct Mpd {
    #[serde(rename = "@type")]
    kind: String,
    #[serde(rename = "@profiles")]
    profiles: String,
    #[serde(rename = "@availabilityStartTime")]
    ast: Option<String>,
    #[serde(rename = "@publishTime")]
    publish: Option<String>,
    #[serde(rename = "@minimumUpdatePeriod")]
    update: Option<String>,
    #[serde(rename = "@timeShiftBufferDepth")]
    depth: Option<String>,
    #[serde(rename = "@suggestedPresentationDelay")]
    delay: Option<String>,
    #[serde(rename = "@mediaPresentationDuration")]
    duration: Option<String>,
    #[serde(rename = "@maxSegmentDuration")]
    max_segment: String,
    #[serde(rename = "Period", default)]
    periods: Vec<XPeriod>,
    #[serde(rename = "UTCTiming", default)]
    utc: Vec<Utc>,
}

#[derive(Debug, Deserialize)]
struct Utc {
    #[serde(rename = "@schemeIdUri")]
    scheme: String,
    #[serde(rename = "@value")]
    value: String,
}

#[derive(Debug, Deserialize)]
struct XPeriod {
    #[serde(rename = "@id")]
    id: String,
    #[serde(rename = "@start")]
    start: String,
    #[serde(rename = "AdaptationSet", default)]
    sets: Vec<XSet>,
}

#[derive(Debug, Deserialize)]
struct XSet {
    #[serde(rename = "@contentType")]
    content: String,
    #[serde(rename = "@mimeType")]
    mime: String,
    #[serde(rename = "Representation", default)]
    reps: Vec<XRep>,
}

#[derive(Debug, Deserialize)]
struct XRep {
    #[serde(rename = "@id")]
    id: String,
    #[serde(rename = "@codecs")]
    codecs: String,
    #[serde(rename = "@bandwidth")]
    bandwidth: u64,
    #[serde(rename = "@width")]
    width: Option<u32>,
    #[serde(rename = "@height")]
    height: Option<u32>,
    #[serde(rename = "@frameRate")]
    frame_rate: Option<String>,
    #[serde(rename = "SegmentTemplate")]
    template: XTemplate,
}

#[derive(Debug, Deserialize)]
struct XTemplate {
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
    timeline: XTimeline,
}

#[derive(Debug, Deserialize)]
struct XTimeline {
    #[serde(rename = "S", default)]
    s: Vec<XS>,
}

#[derive(Debug, Deserialize)]
struct XS {
    #[serde(rename = "@t")]
    t: Option<u64>,
    #[serde(rename = "@d")]
    d: u64,
    #[serde(rename = "@r")]
    r: Option<u64>,
}

impl XTemplate {
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

fn parse(text: &str) -> Mpd {
    quick_xml::de::from_str(text).unwrap_or_else(|e| panic!("{e}:\n{text}"))
}

/// xs:duration as written here (`PT12.5S`), exact.
fn seconds(duration: &str) -> Ratio<i64> {
    let s = duration.strip_prefix("PT").and_then(|s| s.strip_suffix('S')).expect(duration);
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let scale = 10i64.pow(frac.len() as u32);
    Ratio::new(int.parse::<i64>().unwrap() * scale + frac.parse::<i64>().unwrap_or(0), scale)
}

/// xs:dateTime as written here (`2025-03-01T10:00:00.000Z`), Unix ms.
fn unix_ms(date: &str) -> i64 {
    let num = |r: std::ops::Range<usize>| date[r].parse::<i64>().unwrap();
    let (y, m, d) = (num(0..4), num(5..7), num(8..10));
    // Days from 1970-01-01 of a proleptic Gregorian date (years counted from March).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    days * 86_400_000 + num(11..13) * 3_600_000 + num(14..16) * 60_000 + num(17..19) * 1000 + num(20..23)
}

fn ladder<'a>(descs: &'a [RenditionDesc], shed: &'a [bool]) -> Ladder<'a> {
    Ladder { renditions: descs, shed, hls_time: 2 }
}

/// A stream of `count` groups from one run: N = 0.., video from media time 0.
fn one_run(count: u64, live_size: u32) -> (DashIndex, Vec<Group>) {
    let run = Run { init: init_name(0), wall_origin_ms: T0 };
    let mut index = DashIndex::default();
    let groups: Vec<Group> = (0..count).map(|n| group(&run, n, n * VIDEO_TICKS, false)).collect();
    for g in &groups {
        record(&mut index, g, &both(), live_size, Some(false));
    }
    (index, groups)
}

#[test]
fn live_manifest_is_dynamic_over_the_live_window() {
    let descs = ladder_descs();
    let (index, groups) = one_run(5, 3);
    let mpd = parse(&index.live_mpd(&ladder(&descs, &[false, false])).render());
    assert_eq!(mpd.kind, "dynamic");
    assert_eq!(mpd.profiles, "urn:mpeg:dash:profile:isoff-live:2011");
    assert_eq!(mpd.ast.as_deref(), Some("2025-03-01T10:00:00.000Z"));
    // Published when the newest segment's last frame had entered the pipeline.
    assert_eq!(mpd.publish.as_deref(), Some("2025-03-01T10:00:10.000Z"));
    assert_eq!(mpd.utc.len(), 1);
    assert_eq!(mpd.utc[0].scheme, "urn:mpeg:dash:utc:direct:2014");
    assert_eq!(mpd.utc[0].value, "2025-03-01T10:00:10.000Z");
    assert_eq!(mpd.update.as_deref(), Some("PT2S"));
    assert_eq!(mpd.depth.as_deref(), Some("PT6S"), "three listed segments of 2 s");
    assert_eq!(mpd.delay.as_deref(), Some("PT6S"));
    assert_eq!(mpd.duration, None);
    assert_eq!(mpd.periods.len(), 1);
    let period = &mpd.periods[0];
    assert_eq!((period.id.as_str(), period.start.as_str()), ("p0", "PT0S"));
    assert_eq!(period.sets.len(), 2);
    let (video, audio) = (&period.sets[0], &period.sets[1]);
    assert_eq!((video.content.as_str(), video.mime.as_str()), ("video", "video/mp4"));
    assert_eq!((audio.content.as_str(), audio.mime.as_str()), ("audio", "audio/mp4"));
    let ids: Vec<&str> = video.reps.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["1280x720-30~2000", "640x360-30"]);
    let top = &video.reps[0];
    assert_eq!((top.width, top.height, top.frame_rate.as_deref()), (Some(1280), Some(720), Some("30000/1001")));
    assert_eq!(top.codecs, "avc1.64001f");
    // The ~2000 cap's floor (2000 kbit/s + 10 %) is above the measured 2 016 000 bit/s.
    assert_eq!(top.bandwidth, 2_200_000);
    assert_eq!(video.reps[1].bandwidth, 600_000, "150 000 bytes per 2 s");
    assert_eq!(top.template.init, "1280x720-30~2000/init-0.mp4");
    assert_eq!(top.template.media, "1280x720-30~2000/$Number$.m4s");
    assert_eq!(top.template.timescale, 90_000);
    assert_eq!(top.template.pto, 0);
    assert_eq!(top.template.start_number, 2, "the window holds groups 2, 3 and 4");
    let expect: Vec<(u64, u64, u64)> = groups[2..]
        .iter()
        .map(|g| {
            let m = g.renditions[0].media.as_ref().unwrap();
            (g.n, m.start, m.ticks)
        })
        .collect();
    assert_eq!(top.template.segments(), expect);
    let a = &audio.reps[0];
    // The peak: 32 000 bytes over the shortest cut, 93 AAC frames (1.984 s).
    assert_eq!((a.id.as_str(), a.codecs.as_str(), a.bandwidth), ("audio", "mp4a.40.2", 129_033));
    assert_eq!((a.template.init.as_str(), a.template.media.as_str()), ("audio/init-0.mp4", "audio/$Number$.m4s"));
    let expect: Vec<(u64, u64, u64)> = groups[2..]
        .iter()
        .map(|g| {
            let m = g.audio.as_ref().unwrap().media.as_ref().unwrap();
            (g.n, m.start, m.ticks)
        })
        .collect();
    assert_eq!(a.template.segments(), expect, "the audio's own exact durations");
}

#[test]
fn timeline_durations_are_the_hls_extinf_integers_without_drift() {
    // 29.97 fps, 3 s segments: 90 frames of 3003 ticks, EXTINF 3.003 exactly, for an hour.
    let run = Run { init: init_name(0), wall_origin_ms: T0 };
    let mut index = DashIndex::default();
    let mut start = 0;
    for n in 0..1200 {
        let mut g = group(&run, n, start, false);
        for r in &mut g.renditions {
            let m = r.media.as_mut().unwrap();
            m.ticks = 270_270;
            r.duration = m.duration();
        }
        g.audio = None;
        record(&mut index, &g, &both(), 1200, Some(false));
        start += 270_270;
    }
    let descs = ladder_descs();
    let text = index.vod_mpd(&ladder(&descs, &[false, false])).render();
    let mpd = parse(&text);
    let segments = mpd.periods[0].sets[0].reps[0].template.segments();
    assert_eq!(segments.len(), 1200);
    assert!(segments.iter().all(|&(_, _, d)| d == 270_270));
    assert_eq!(segments.last().unwrap().1, 1199 * 270_270, "no rounding drift after an hour");
    assert_eq!(mpd.duration.as_deref(), Some("PT3603.6S"));
    assert!(text.contains("<S t=\"0\" d=\"270270\" r=\"1199\"/>"), "one run-length element: {text}");
}

/// AST + Period@start + (S@t − PTO) / timescale, Unix ms, as a DASH client computes it.
fn wall_clock_ms(mpd: &Mpd, period: &XPeriod, template: &XTemplate, t: u64) -> Ratio<i64> {
    let ast = Ratio::from_integer(unix_ms(mpd.ast.as_deref().unwrap()));
    let media = Ratio::new(t as i64 - template.pto as i64, template.timescale as i64);
    ast + (seconds(&period.start) + media) * 1000
}

#[test]
fn availability_start_plus_media_time_is_each_segments_program_date_time() {
    // A run, a skipped group, then a restart: new init segments, the media clock continued
    // from the end of the last published group, the wall clock 7.5 s later than that.
    let first = Run { init: init_name(0), wall_origin_ms: T0 + 123 };
    let restarted = Run { init: init_name(6), wall_origin_ms: T0 + 123 + 7_500 };
    let mut groups = Vec::new();
    for n in 0..4 {
        groups.push(group(&first, n, n * VIDEO_TICKS, false));
    }
    // Group 4 was skipped: 5 comes after a gap, with a discontinuity.
    groups.push(group(&first, 5, 5 * VIDEO_TICKS, true));
    for n in 6..9 {
        groups.push(group(&restarted, n, n * VIDEO_TICKS, n == 6));
    }
    let mut index = DashIndex::default();
    for g in &groups {
        record(&mut index, g, &both(), 10, None);
    }
    let descs = ladder_descs();
    let mpd = parse(&index.live_mpd(&ladder(&descs, &[false, false])).render());
    let ids: Vec<&str> = mpd.periods.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["p0", "p5", "p6"], "a skip and a restart each start a Period");
    let mut checked = 0;
    for period in &mpd.periods {
        for set in &period.sets {
            for rep in &set.reps {
                for (n, t, _) in rep.template.segments() {
                    let g = groups.iter().find(|g| g.n == n).expect("a published N");
                    let at = wall_clock_ms(&mpd, period, &rep.template, t);
                    if set.content == "video" {
                        assert_eq!(at, Ratio::from_integer(g.program_date_time_ms), "{} segment {n}", rep.id);
                    } else {
                        // Audio is cut within one AAC frame (21.3 ms) after the video.
                        let late = at - g.program_date_time_ms;
                        assert!(late >= Ratio::from_integer(0) && late < Ratio::new(1024 * 1000, 48_000), "{late}");
                    }
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 8 * 3);
    let restart = &mpd.periods[2].sets[0].reps[1].template;
    assert_eq!((restart.init.as_str(), restart.start_number), ("640x360-30/init-6.mp4", 6));
    assert_eq!(mpd.periods[1].sets[0].reps[0].template.start_number, 5);
    assert_eq!(mpd.periods[1].sets[0].reps[0].template.init, "1280x720-30~2000/init-0.mp4");
}

#[test]
fn the_ended_stream_keeps_its_clock_and_states_its_duration() {
    let descs = ladder_descs();
    let (mut index, _) = one_run(4, 3);
    let live = parse(&index.live_mpd(&ladder(&descs, &[false, false])).render());
    index.end();
    let ended = parse(&index.live_mpd(&ladder(&descs, &[false, false])).render());
    assert_eq!(ended.kind, "dynamic");
    assert_eq!(ended.update, None, "no more updates");
    assert_eq!(ended.duration.as_deref(), Some("PT8S"), "the end of the last segment since the AST");
    assert_eq!(ended.ast, live.ast);
    assert_eq!(
        ended.periods[0].sets[0].reps[0].template.segments(),
        live.periods[0].sets[0].reps[0].template.segments()
    );
}

#[test]
fn a_recording_part_is_static_with_its_periods_end_to_end() {
    let first = Run { init: init_name(0), wall_origin_ms: T0 };
    let restarted = Run { init: init_name(3), wall_origin_ms: T0 + 60_000 };
    let mut index = DashIndex::default();
    // Part 0 holds groups 0..2, part 1 holds 2..5 (a restart at group 3).
    for n in 0..5 {
        let run = if n < 3 { &first } else { &restarted };
        record(&mut index, &group(run, n, n * VIDEO_TICKS, n == 3), &both(), 3, Some(n == 2));
    }
    let descs = ladder_descs();
    let mpd = parse(&index.vod_mpd(&ladder(&descs, &[false, false])).render());
    assert_eq!(mpd.kind, "static");
    assert_eq!((mpd.ast.as_deref(), mpd.update.as_deref(), mpd.depth.as_deref()), (None, None, None));
    assert!(mpd.utc.is_empty(), "a static presentation needs no clock");
    assert_eq!(mpd.duration.as_deref(), Some("PT6S"));
    assert_eq!(mpd.max_segment, "PT2.005333S", "the longest audio segment (94 AAC frames)");
    let periods: Vec<(&str, &str)> = mpd.periods.iter().map(|p| (p.id.as_str(), p.start.as_str())).collect();
    assert_eq!(periods, [("p0", "PT0S"), ("p3", "PT2S")], "the minute of restart is not played");
    let video = &mpd.periods[0].sets[0].reps[0].template;
    assert_eq!((video.start_number, video.pto), (2, 2 * VIDEO_TICKS), "part 1 starts mid-Period");
    let after = &mpd.periods[1].sets[0].reps[0].template;
    assert_eq!(
        (after.start_number, after.pto, after.init.as_str()),
        (3, 3 * VIDEO_TICKS, "1280x720-30~2000/init-3.mp4")
    );
    assert_eq!(after.segments().len(), 2);
}

#[test]
fn a_shed_rendition_leaves_the_manifests() {
    let descs = ladder_descs();
    let (mut index, _) = one_run(2, 3);
    let run = Run { init: init_name(0), wall_origin_ms: T0 };
    record(&mut index, &group(&run, 2, 2 * VIDEO_TICKS, false), &[false, true], 3, Some(false));
    let mpd = parse(&index.live_mpd(&ladder(&descs, &[true, false])).render());
    assert_eq!(mpd.periods.len(), 1, "shedding changes no init segment");
    let ids: Vec<&str> = mpd.periods[0].sets[0].reps.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["640x360-30"]);
}

#[test]
fn a_restored_index_continues_the_same_manifests() {
    let descs = ladder_descs();
    let (mut index, _) = one_run(3, 2);
    let mut back: DashIndex = serde_json::from_str(&serde_json::to_string(&index).unwrap()).unwrap();
    assert_eq!(back, index);
    let run = Run { init: init_name(0), wall_origin_ms: T0 };
    let next = group(&run, 3, 3 * VIDEO_TICKS, false);
    record(&mut index, &next, &both(), 2, Some(false));
    record(&mut back, &next, &both(), 2, Some(false));
    let l = ladder(&descs, &[false, false]);
    assert_eq!(back.live_mpd(&l).render(), index.live_mpd(&l).render());
}

#[test]
fn mpeg_ts_groups_are_not_indexed() {
    let mut index = DashIndex::default();
    let run = Run { init: init_name(0), wall_origin_ms: T0 };
    let mut g = group(&run, 0, 0, false);
    for r in &mut g.renditions {
        r.media = None;
    }
    g.audio = None;
    record(&mut index, &g, &both(), 3, Some(false));
    assert!(index.is_empty());
}

#[test]
fn a_stream_without_audio_has_no_audio_set() {
    let descs = ladder_descs();
    let run = Run { init: init_name(0), wall_origin_ms: T0 };
    let mut index = DashIndex::default();
    let mut g = group(&run, 0, 0, false);
    g.audio = None;
    record(&mut index, &g, &both(), 3, Some(false));
    let mpd = parse(&index.live_mpd(&ladder(&descs, &[false, false])).render());
    let sets: Vec<&str> = mpd.periods[0].sets.iter().map(|s| s.content.as_str()).collect();
    assert_eq!(sets, ["video"]);
}
