//! DASH manifests over the CMAF files the HLS playlists list (`HLS_DASH`): `master.mpd` (the
//! live window, `type="dynamic"`) and `master-vod-{K}.mpd` (recording part K,
//! `type="static"`), as pure values beside the playlists of [`StreamState`](super::StreamState).
//!
//! What goes in is the same group record the playlists are made from, so the two cannot
//! disagree: each `S@d` is the integer a segment was cut with (its EXTINF is that integer over
//! the timescale), `$Number$` is its N, and the init segment is its `EXT-X-MAP`.
//!
//! Periods: a Period is a stretch of consecutive segment numbers with the same init segments;
//! whatever starts a new HLS timeline (`EXT-X-DISCONTINUITY`: a restart, a skip, a new track)
//! starts a new Period, since `$Number$` cannot jump within a timeline and an init segment
//! belongs to a whole Representation.
//!
//! Clock: the availability start time (AST) is the PROGRAM-DATE-TIME of the stream's first
//! group and never changes. A Period starts at the PROGRAM-DATE-TIME of its first group
//! (counted from the AST), and its `presentationTimeOffset` is that group's media time, so
//! AST + Period@start + (S@t − PTO) / timescale is each segment's PROGRAM-DATE-TIME. A recording
//! part lays its Periods end to end instead, as a VOD playlist plays its timelines.
//!
//! # Layout
//! - this file: [`DashIndex`], what the manifests need to remember, and the two views.
//! - `mpd`: the manifest text of a [`Presentation`](mpd::Presentation).

pub mod mpd;

use std::collections::VecDeque;

use num_rational::Ratio;
use serde::{Deserialize, Serialize};

use self::mpd::{AdaptationSet, Content, Kind, Period, Presentation, Representation, Template};
use crate::hls::entry::add_duration;
use crate::hls::master::{bandwidth_floor, Bandwidth, RenditionDesc};
use crate::hls::media::{SegmentMedia, AUDIO_CODECS, AUDIO_LABEL};
use crate::hls::paths::stream_dir;

/// `hls/{ch}/{id}/master.mpd`, beside `master.m3u8`.
pub fn live_mpd_path(channel: &str, stream_id: &str) -> String {
    format!("{}/master.mpd", stream_dir(channel, stream_id))
}

/// `hls/{ch}/{id}/master-vod-{K}.mpd`, beside `master-vod-{K}.m3u8`.
pub fn vod_mpd_path(channel: &str, stream_id: &str, part: u64) -> String {
    format!("{}/master-vod-{part}.mpd", stream_dir(channel, stream_id))
}

/// Whether a stored file is a DASH manifest.
pub fn is_manifest(path: &str) -> bool {
    path.ends_with(".mpd")
}

/// Where a Period begins: the group that opened it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct PeriodStart {
    /// N of its first group: the Period's id.
    n: u64,
    /// PROGRAM-DATE-TIME of that group, Unix ms.
    program_date_time_ms: i64,
    /// Media time of that group, seconds on the stream's clock (its first video track's
    /// start): the `presentationTimeOffset` of every track of the Period.
    origin: Ratio<i64>,
}

/// One published group as the manifests need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct DashGroup {
    n: u64,
    period: PeriodStart,
    /// Per video rendition (ladder order); `None` for a rendition shed before this group.
    video: Vec<Option<SegmentMedia>>,
    audio: Option<SegmentMedia>,
}

impl DashGroup {
    /// Whether `next` can follow this group in the same Period.
    fn continues_into(&self, next: &DashGroup) -> bool {
        let same_init = |a: &Option<SegmentMedia>, b: &Option<SegmentMedia>| match (a, b) {
            (Some(a), Some(b)) => a.init == b.init && a.timescale == b.timescale,
            (None, None) => true,
            // A shed rendition leaves the manifests whole; nothing else changes then.
            (Some(_), None) => true,
            (None, Some(_)) => false,
        };
        next.n == self.n + 1
            && self.video.len() == next.video.len()
            && self.video.iter().zip(&next.video).all(|(a, b)| same_init(a, b))
            && (self.audio.is_some() == next.audio.is_some())
            && same_init(&self.audio, &next.audio)
    }

    /// Duration of the group, seconds: its first listed video segment's.
    fn duration(&self) -> Ratio<i64> {
        self.video.iter().flatten().next().map_or(Ratio::from_integer(0), SegmentMedia::duration)
    }
}

/// One published group as the publication state hands it over.
pub struct Published<'a> {
    pub n: u64,
    /// Unix ms.
    pub program_date_time_ms: i64,
    /// The group starts a new HLS timeline (`EXT-X-DISCONTINUITY`).
    pub discontinuity: bool,
    /// Per video rendition (ladder order): its segment and size in bytes; `None` when it is
    /// not listed (shed) or has no CMAF timing.
    pub video: Vec<Option<(&'a SegmentMedia, u64)>>,
    /// The audio rendition's segment and size.
    pub audio: Option<(&'a SegmentMedia, u64)>,
}

/// What the DASH manifests of one stream remember between groups; part of the stream's
/// serialized state, so a restarted run continues the same manifests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DashIndex {
    /// The AST: PROGRAM-DATE-TIME of the stream's first group, Unix ms.
    availability_start_ms: Option<i64>,
    /// The groups `live.m3u8` lists (the last L), oldest first.
    window: VecDeque<DashGroup>,
    /// The groups of the current recording part.
    part: Vec<DashGroup>,
    /// The last group published, for the Period rule (it outlives the window of one).
    last: Option<DashGroup>,
    /// Peak segment bit rates, whole stream, per video rendition: Representation@bandwidth.
    video_rates: Vec<Bandwidth>,
    audio_rate: Bandwidth,
    /// The stream ended: `master.mpd` says so.
    ended: bool,
}

/// What the views take from the stream's configuration.
pub struct Ladder<'a> {
    pub renditions: &'a [RenditionDesc],
    /// Per rendition: shed under overload, no longer offered.
    pub shed: &'a [bool],
    /// `T`, seconds.
    pub hls_time: u32,
}

impl DashIndex {
    /// Adds a published group (`part`: with Record True, whether it opens a new recording
    /// part). A group without CMAF timing (MPEG-TS) is not indexed: DASH needs CMAF.
    pub fn record(&mut self, g: &Published<'_>, live_size: u32, part: Option<bool>) {
        let video: Vec<Option<SegmentMedia>> = g.video.iter().map(|v| v.map(|(m, _)| m.clone())).collect();
        let Some(first) = video.iter().flatten().next() else {
            return;
        };
        let origin = Ratio::new(first.start as i64, i64::from(first.timescale.max(1)));
        let mut group = DashGroup {
            n: g.n,
            period: PeriodStart { n: g.n, program_date_time_ms: g.program_date_time_ms, origin },
            video,
            audio: g.audio.map(|(m, _)| m.clone()),
        };
        if let Some(last) = self.last.as_ref().filter(|last| last.continues_into(&group) && !g.discontinuity) {
            group.period = last.period.clone();
        }
        self.availability_start_ms.get_or_insert(g.program_date_time_ms);
        self.video_rates.resize_with(g.video.len(), Bandwidth::default);
        for (rate, (m, bytes)) in self.video_rates.iter_mut().zip(&g.video).filter_map(|(r, v)| Some((r, (*v)?))) {
            rate.record(bytes, m.duration());
        }
        if let Some((m, bytes)) = g.audio {
            self.audio_rate.record(bytes, m.duration());
        }
        match part {
            Some(true) => self.part = vec![group.clone()],
            Some(false) => self.part.push(group.clone()),
            None => {}
        }
        self.window.push_back(group.clone());
        while self.window.len() > live_size.max(1) as usize {
            self.window.pop_front();
        }
        self.last = Some(group);
    }

    /// Whether any CMAF group was indexed: there is something to write.
    pub fn is_empty(&self) -> bool {
        self.last.is_none()
    }

    /// The stream ended: the next `master.mpd` says so.
    pub fn end(&mut self) {
        self.ended = true;
    }

    /// `master.mpd`: the live window, dynamic; once ended, still dynamic, with its
    /// `mediaPresentationDuration` and no `minimumUpdatePeriod` (ISO/IEC 23009-1 §5.4:
    /// players stop updating and play to the end; the segments a static MPD would need from
    /// time zero may already be deleted).
    pub fn live_mpd(&self, ladder: &Ladder<'_>) -> Presentation {
        let ast = self.availability_start_ms.unwrap_or(0);
        let window: Vec<&DashGroup> = self.window.iter().collect();
        // The Period keeps the start and offset of its first group, listed or not: players
        // require both to stay as they were in earlier updates of the manifest.
        let periods = self.periods(&window, ladder, |run| {
            let p = &run[0].period;
            (Ratio::new(p.program_date_time_ms - ast, 1000), p.origin)
        });
        let depth = window.iter().fold(Ratio::from_integer(0), |sum, g| add_duration(sum, g.duration()));
        // When the newest segment's last frame entered the pipeline, on the Period's clock.
        let newest_end = self.window.back().map_or(ast, |g| {
            let since_period = (group_time(g) - g.period.origin + g.duration()) * 1000;
            (Ratio::from_integer(g.period.program_date_time_ms) + since_period).round().to_integer()
        });
        let t = Ratio::from_integer(i64::from(ladder.hls_time.max(1)));
        // Three segments behind the live edge, as HLS players hold back three target
        // durations, but never more than the window holds.
        let delay = (t * 3).min(depth);
        Presentation {
            kind: Kind::Dynamic {
                availability_start_ms: ast,
                publish_ms: newest_end,
                update_period: (!self.ended).then_some(t),
                time_shift_buffer: depth,
                presentation_delay: delay,
                ended_at: self.ended.then(|| Ratio::new(newest_end - ast, 1000)),
            },
            min_buffer: t,
            max_segment: max_segment(&window),
            periods,
        }
    }

    /// `master-vod-{K}.mpd` of the current part: static, its Periods end to end.
    pub fn vod_mpd(&self, ladder: &Ladder<'_>) -> Presentation {
        let groups: Vec<&DashGroup> = self.part.iter().collect();
        // Period starts: the sum of the durations before each one's first group.
        let mut starts = Vec::new();
        let mut total = Ratio::from_integer(0);
        for g in &groups {
            if starts.last().is_none_or(|&(n, _)| n != g.period.n) {
                starts.push((g.period.n, total));
            }
            total = add_duration(total, g.duration());
        }
        // A part may begin inside a Period: its presentation begins at the part's first group.
        let start_of = |run: &[&DashGroup]| {
            let start = starts.iter().find(|(n, _)| *n == run[0].period.n).map_or(total, |&(_, s)| s);
            (start, group_time(run[0]))
        };
        let periods = self.periods(&groups, ladder, start_of);
        Presentation {
            kind: Kind::Static { duration: total },
            min_buffer: Ratio::from_integer(i64::from(ladder.hls_time.max(1))),
            max_segment: max_segment(&groups),
            periods,
        }
    }
}

/// Media time of a group's video, seconds (the first listed track's start).
fn group_time(g: &DashGroup) -> Ratio<i64> {
    g.video
        .iter()
        .flatten()
        .next()
        .map_or(g.period.origin, |m| Ratio::new(m.start as i64, i64::from(m.timescale.max(1))))
}

fn max_segment(groups: &[&DashGroup]) -> Ratio<i64> {
    let durations = groups.iter().flat_map(|g| g.video.iter().flatten().chain(&g.audio).map(SegmentMedia::duration));
    durations.max().unwrap_or(Ratio::from_integer(0))
}

impl DashIndex {
    /// The groups cut into Periods (consecutive groups sharing their [`PeriodStart`]).
    /// `place` gives a run's Period@start and the media time it starts at, seconds.
    fn periods(
        &self,
        groups: &[&DashGroup],
        ladder: &Ladder<'_>,
        place: impl Fn(&[&DashGroup]) -> (Ratio<i64>, Ratio<i64>),
    ) -> Vec<Period> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < groups.len() {
            let first = groups[i];
            let len = groups[i..].iter().take_while(|g| g.period.n == first.period.n).count();
            let run = &groups[i..i + len];
            let (start, origin) = place(run);
            out.push(self.period(run, ladder, start, origin));
            i += len;
        }
        out
    }

    fn period(&self, run: &[&DashGroup], ladder: &Ladder<'_>, start: Ratio<i64>, origin: Ratio<i64>) -> Period {
        let mut video = Vec::new();
        for (i, desc) in ladder.renditions.iter().enumerate() {
            if ladder.shed.get(i).copied().unwrap_or(false) {
                continue;
            }
            let track: Vec<(u64, &SegmentMedia)> =
                run.iter().filter_map(|g| Some((g.n, g.video.get(i)?.as_ref()?))).collect();
            let Some(template) = template(&track, desc.label.as_str(), origin) else {
                continue;
            };
            let floor = bandwidth_floor(desc.max_kbps, 0).unwrap_or(0);
            video.push(Representation {
                id: desc.label.clone(),
                codecs: codec_of(&desc.codecs, false).unwrap_or("avc1").to_string(),
                bandwidth: self.video_rates.get(i).map_or(0, Bandwidth::peak_bps).max(floor),
                picture: Some((desc.encoded_width, desc.encoded_height, desc.frame_rate)),
                template,
            });
        }
        let mut sets = vec![AdaptationSet { content: Content::Video, representations: video }];
        let audio: Vec<(u64, &SegmentMedia)> = run.iter().filter_map(|g| Some((g.n, g.audio.as_ref()?))).collect();
        if let Some(template) = template(&audio, AUDIO_LABEL, origin) {
            let codecs = ladder.renditions.iter().find_map(|d| codec_of(&d.codecs, true)).unwrap_or(AUDIO_CODECS);
            sets.push(AdaptationSet {
                content: Content::Audio,
                representations: vec![Representation {
                    id: AUDIO_LABEL.to_string(),
                    codecs: codecs.to_string(),
                    bandwidth: self.audio_rate.peak_bps(),
                    picture: None,
                    template,
                }],
            });
        }
        Period { id: format!("p{}", run[0].period.n), start, sets }
    }
}

/// The `SegmentTemplate` of one track over a Period's groups (`(N, segment)`, consecutive N);
/// `None` when the track has no segment there.
fn template(track: &[(u64, &SegmentMedia)], dir: &str, origin: Ratio<i64>) -> Option<Template> {
    let &(start_number, first) = track.first()?;
    let timescale = first.timescale.max(1);
    // The Period's start on this track's clock. Every track is cut at the same instant, so
    // for video this is exactly its first segment's start; audio cut within one AAC frame
    // may start a little before it, and that little is presented before the Period begins.
    let offset = (origin * i64::from(timescale)).round().to_integer().max(0) as u64;
    Some(Template {
        timescale,
        presentation_time_offset: offset,
        initialization: format!("{dir}/{}", first.init),
        media: format!("{dir}/$Number$.m4s"),
        start_number,
        timeline: track.iter().map(|(_, m)| (m.start, m.ticks)).collect(),
    })
}

/// The video (or, with `audio`, the audio) entry of a master `CODECS` list.
fn codec_of(codecs: &str, audio: bool) -> Option<&str> {
    codecs.split(',').map(str::trim).find(|c| !c.is_empty() && c.starts_with("mp4a") == audio)
}

#[cfg(test)]
mod tests;
