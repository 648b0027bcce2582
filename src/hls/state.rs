//! The stream's publication state machine (output-layout §6–§10, §12).
//!
//! The transcoder feeds it each group once the group is durable in every rendition; the
//! supervisor keeps a serialized copy so a restarted pipeline continues the same playlists,
//! counters and announcements. Everything here is deterministic: the same state and the same
//! calls give byte-identical output, which is what makes that hand-over safe.

use std::collections::VecDeque;
use std::fmt;

use num_rational::Ratio;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::hls::dash::{self, DashIndex, Ladder as DashLadder};
use crate::hls::entry::{add_duration, PlaylistEntry};
use crate::hls::format::decimal_trimmed;
use crate::hls::live::LivePlaylist;
pub use crate::hls::master::RenditionDesc;
use crate::hls::master::{AudioGroup, MasterPlaylist};
use crate::hls::media::{RenditionKind, SegmentFormat, SegmentMedia, AUDIO_LABEL};
use crate::hls::paths::{live_path, master_path, master_vod_path, media_segment_path, vod_path};
use crate::hls::vod::VodPart;
use crate::pipeline::captions::CaptionServices;

/// What the publication rules depend on; fixed for the life of the stream, restarts included,
/// except the codecs and audio bit rate, which a group's [`TrackChange`] replaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamConfig {
    pub channel: String,
    pub stream_id: String,
    /// Ladder order: ORIGINAL first when present.
    pub renditions: Vec<RenditionDesc>,
    /// `T`, seconds.
    pub hls_time: u32,
    /// `L`, entries in `live.m3u8` (0 is treated as 1).
    pub live_size: u32,
    /// `V`, entries per recording part (0 is treated as 1).
    pub vod_max_size: u32,
    /// Record True: VOD parts are written and nothing is deleted.
    pub record: bool,
    /// Audio bit rate in kbit/s, 0 without audio: part of the `~B` bandwidth floor.
    pub audio_kbps: u32,
    /// `HLS_MASTER_PLAYLIST`.
    pub master: bool,
    /// `HLS_SEGMENT_FORMAT`: CMAF adds the audio rendition ([`AUDIO_LABEL`]) once a group
    /// carries audio.
    #[serde(default, skip_serializing_if = "SegmentFormat::is_ts")]
    pub format: SegmentFormat,
    /// `HLS_DASH` (CMAF only): `master.mpd` and `master-vod-{K}.mpd` beside the masters.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dash: bool,
}

/// Segment N of one rendition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenditionSegment {
    /// Exact EXTINF.
    pub duration: Ratio<i64>,
    /// Size of the whole `.ts` (or `.m4s`) file.
    pub bytes: u64,
    /// CMAF: exact timing and init segment; `duration` equals `media.duration()`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<SegmentMedia>,
}

/// Group N: segment N of every rendition, all durable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRecord {
    pub n: u64,
    /// The group starts a new timeline (first group of a restarted run, or after a skip).
    pub discontinuity: bool,
    /// Wall-clock time of the group's first frame, Unix milliseconds.
    pub program_date_time_ms: i64,
    /// One per rendition, in ladder order.
    pub renditions: Vec<RenditionSegment>,
    /// The streams inside the segments changed with this group (audio that began after the
    /// source opened): it starts a new timeline and the masters advertise the new codecs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracks: Option<TrackChange>,
    /// CMAF with audio: segment N of the audio rendition, cut at the same boundary as the
    /// video (within one AAC frame).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<RenditionSegment>,
    /// The renditions carry these closed-caption services from this group on (first seen,
    /// possibly mid-stream): the masters declare them from now on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captions: Option<CaptionServices>,
}

/// New master `CODECS` per rendition (ladder order) and the audio bit rate that now counts
/// in the `~B` bandwidth floor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackChange {
    pub codecs: Vec<String>,
    pub audio_kbps: u32,
}

/// STREAM-AVAILABLE `Stream-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StreamType {
    #[serde(rename = "HLS-LIVE")]
    HlsLive,
    #[serde(rename = "HLS-VOD")]
    HlsVod,
    #[serde(rename = "IMG-PREVIEW")]
    ImgPreview,
}

impl StreamType {
    /// The wire token.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamType::HlsLive => "HLS-LIVE",
            StreamType::HlsVod => "HLS-VOD",
            StreamType::ImgPreview => "IMG-PREVIEW",
        }
    }
}

impl fmt::Display for StreamType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A STREAM-AVAILABLE to send (channel and id come from the job).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announcement {
    pub stream_type: StreamType,
    pub resolution: String,
    pub index_file: String,
    /// HLS-VOD with K ≥ 1 only.
    pub start_time: Option<String>,
}

/// A file to store whole (playlists: latest content wins).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileWrite {
    pub path: String,
    pub content: String,
    /// Send this once this write is durable.
    pub announce: Option<Announcement>,
}

/// What one call asks the caller to do, in this order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Publication {
    pub writes: Vec<FileWrite>,
    /// Segments to delete, best effort.
    pub deletes: Vec<String>,
}

/// A group the state cannot publish; the state is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PublishError {
    #[error("stream is finished: group {n} cannot be published")]
    Finished { n: u64 },
    #[error("group {n} has {got} renditions, the ladder has {expected}")]
    RenditionCount { n: u64, expected: usize, got: usize },
    #[error("group {n} does not come after the last published group {last}")]
    NotIncreasing { n: u64, last: u64 },
    #[error("group {n}, rendition {rendition}: duration {numer}/{denom} is not a valid length")]
    BadDuration { n: u64, rendition: usize, numer: i64, denom: i64 },
}

/// Per-rendition playlists and what was already announced for them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct RenditionState {
    live: LivePlaylist,
    /// HLS-LIVE goes out once per rendition, restarts included (protocol §9.1.6).
    live_announced: bool,
    /// The current recording part (Record True), from its first entry on.
    vod: Option<VodPart>,
    /// Σ EXTINF of this rendition's finished parts: Start-Time of the current part.
    vod_start: Ratio<i64>,
    /// Shed under overload: its playlists are ended, the masters no longer list it, and
    /// its entry in later groups is ignored.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    shed: bool,
    /// Record False, once shed: the oldest segment its final live playlist lists. Those
    /// segments stay (as every rendition's last ones do at the end of a stream).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    keep_from: Option<u64>,
}

impl RenditionState {
    fn new(cfg: &StreamConfig) -> Self {
        RenditionState {
            live: LivePlaylist::new(cfg.hls_time, cfg.live_size),
            live_announced: false,
            vod: None,
            vod_start: Ratio::from_integer(0),
            shed: false,
            keep_from: None,
        }
    }
}

/// Publication state of one stream. Serialize it to hand a stream over to a restarted run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamState {
    cfg: StreamConfig,
    renditions: Vec<RenditionState>,
    /// Groups published so far: the next media sequence number.
    published: u64,
    /// Highest N published: numbering must keep increasing.
    last_n: Option<u64>,
    /// The next published group carries a discontinuity.
    discontinuity_next: bool,
    /// ENDLIST written: nothing more is published.
    finished: bool,
    /// Measures behind `master.m3u8`.
    live_master: MasterPlaylist,
    /// Part K the current recording parts and `vod_master` belong to.
    vod_part: Option<u64>,
    /// Measures behind `master-vod-{K}.m3u8` for the current part.
    vod_master: MasterPlaylist,
    /// Record False: published N whose segments are still stored, oldest first.
    stored: VecDeque<u64>,
    /// CMAF: the audio rendition's playlists, from the first group with audio on. It is never
    /// shed and never announced (the coordinator has no type for it): players find it
    /// through the masters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    audio: Option<RenditionState>,
    /// `HLS_DASH`: what the DASH manifests are rendered from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dash: Option<DashIndex>,
    /// CMAF: every init segment a published entry referred to (paths), for the end-of-stream
    /// cleanup, which computes what to delete rather than listing storage.
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    inits: std::collections::BTreeSet<String>,
    /// Closed-caption services the renditions carry, declared in the masters. Never
    /// withdrawn: a publisher pausing its captions does not make players drop the track.
    #[serde(default, skip_serializing_if = "is_default")]
    captions: CaptionServices,
}

fn is_default(c: &CaptionServices) -> bool {
    *c == CaptionServices::default()
}

impl StreamState {
    /// A stream with nothing published yet.
    pub fn new(cfg: StreamConfig) -> Self {
        let count = cfg.renditions.len();
        let renditions = (0..count).map(|_| RenditionState::new(&cfg)).collect();
        Self {
            renditions,
            published: 0,
            last_n: None,
            discontinuity_next: false,
            finished: false,
            live_master: MasterPlaylist::new(count),
            vod_part: None,
            vod_master: MasterPlaylist::new(count),
            stored: VecDeque::new(),
            audio: None,
            inits: Default::default(),
            captions: CaptionServices::default(),
            dash: cfg.dash.then(DashIndex::default),
            cfg,
        }
    }

    /// Every CMAF init segment published entries referred to, as paths.
    pub fn init_paths(&self) -> impl Iterator<Item = &String> {
        self.inits.iter()
    }

    /// Whether the stream has an audio rendition of its own (CMAF with audio).
    pub fn has_audio_rendition(&self) -> bool {
        self.audio.is_some()
    }

    /// The entries `live.m3u8` of a rendition lists now, oldest first: what a manifest
    /// other than HLS (DASH) renders from. `None` for a rendition that does not exist.
    pub fn live_entries(&self, kind: RenditionKind) -> Option<impl Iterator<Item = &PlaylistEntry>> {
        Some(self.live(kind)?.entries())
    }

    /// The live playlist of a rendition (LL-HLS renders it again with its parts).
    pub fn live(&self, kind: RenditionKind) -> Option<&LivePlaylist> {
        let r = match kind {
            RenditionKind::Video(i) => self.renditions.get(i)?,
            RenditionKind::Audio => self.audio.as_ref()?,
        };
        Some(&r.live)
    }

    /// The configuration the state was built with.
    pub fn config(&self) -> &StreamConfig {
        &self.cfg
    }

    /// Media sequence number the next published group gets.
    pub fn next_msn(&self) -> u64 {
        self.published
    }

    /// Highest N published so far.
    pub fn last_published(&self) -> Option<u64> {
        self.last_n
    }

    /// Whether `finish` was called.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The closed-caption services the masters declare.
    pub fn captions(&self) -> CaptionServices {
        self.captions
    }

    /// Whether rendition `i` was shed.
    pub fn is_shed(&self, i: usize) -> bool {
        self.renditions.get(i).is_some_and(|r| r.shed)
    }

    /// Sheds rendition `i` (overload): ENDLIST in its live playlist and its current recording
    /// part, and both masters rewritten without it. Its files stay where they are; groups
    /// published later ignore its entry. Never the last listed rendition; idempotent.
    pub fn shed(&mut self, i: usize) -> Publication {
        let mut out = Publication::default();
        let listed = self.renditions.iter().filter(|r| !r.shed).count();
        if self.finished || i >= self.renditions.len() || self.renditions[i].shed || listed <= 1 {
            return out;
        }
        let (cfg, r) = (&self.cfg, &mut self.renditions[i]);
        r.shed = true;
        r.keep_from = Some(r.live.first_listed().unwrap_or(u64::MAX));
        let label = &cfg.renditions[i].label;
        if self.published > 0 {
            r.live.end();
            let path = live_path(&cfg.channel, &cfg.stream_id, label);
            out.writes.push(FileWrite { path, content: r.live.render(), announce: None });
        }
        if let (Some(part), Some(mut vod)) = (self.vod_part, r.vod.take().filter(|v| !v.is_empty())) {
            vod.finish();
            r.vod_start = add_duration(r.vod_start, vod.total_duration());
            let path = vod_path(&cfg.channel, &cfg.stream_id, label, part);
            out.writes.push(FileWrite { path, content: vod.render(), announce: None });
        }
        if self.masters_enabled() && self.published > 0 {
            out.writes.push(self.live_master_write());
            if let Some(part) = self.vod_part.filter(|_| self.cfg.record) {
                out.writes.push(self.vod_master_write(part));
            }
        }
        self.dash_writes(&mut out);
        out
    }

    /// The next published group carries `#EXT-X-DISCONTINUITY` (after a skip or a restart).
    pub fn mark_discontinuity_next(&mut self) {
        self.discontinuity_next = true;
    }

    /// Whether the next published group will carry `#EXT-X-DISCONTINUITY` whatever its
    /// segments say (LL-HLS lists its parts after one).
    pub fn discontinuity_next(&self) -> bool {
        self.discontinuity_next
    }

    /// Group `g` is durable in every rendition: append it everywhere.
    pub fn publish(&mut self, g: &GroupRecord) -> Result<Publication, PublishError> {
        let durations = self.check(g)?;
        let mut discontinuity = g.discontinuity || std::mem::take(&mut self.discontinuity_next);
        let tracks_changed = g.tracks.is_some();
        if let Some(change) = &g.tracks {
            // §10: a change in the number or type of tracks needs EXT-X-DISCONTINUITY.
            discontinuity = true;
            for (desc, codecs) in self.cfg.renditions.iter_mut().zip(&change.codecs) {
                desc.codecs = codecs.clone();
            }
            self.cfg.audio_kbps = change.audio_kbps;
        }
        if let Some(services) = g.captions {
            // The masters see the change as a reason to be rewritten with this group.
            self.captions = self.captions.union(services);
            self.live_master.set_captions(self.captions);
            self.vod_master.set_captions(self.captions);
        }
        let entries: Vec<PlaylistEntry> = durations
            .into_iter()
            .zip(&g.renditions)
            .map(|(duration, seg)| PlaylistEntry {
                n: g.n,
                duration,
                discontinuity,
                program_date_time_ms: g.program_date_time_ms,
                media: seg.media.clone(),
            })
            .collect();
        // The audio is cut within a frame of the video's boundary: its PROGRAM-DATE-TIME is its
        // own first sample's, or a player aligning the audio playlist by date would see it jump
        // by the difference each time the live window slides (hls.js then stalls).
        let video_start = g.renditions.iter().find_map(|r| r.media.as_ref()).map(SegmentMedia::start_seconds);
        let audio_entry = g.audio.as_ref().map(|seg| PlaylistEntry {
            n: g.n,
            duration: seg.media.as_ref().map_or(seg.duration, SegmentMedia::duration),
            discontinuity,
            program_date_time_ms: match (seg.media.as_ref(), video_start) {
                (Some(audio), Some(video)) => {
                    g.program_date_time_ms + ((audio.start_seconds() - video) * 1000).round().to_integer()
                }
                _ => g.program_date_time_ms,
            },
            media: seg.media.clone(),
        });
        let mut out = Publication::default();
        let part = self.published / u64::from(self.cfg.vod_max_size.max(1));
        let new_part = self.vod_part != Some(part);
        if self.cfg.record && self.vod_part.is_some_and(|k| k != part) {
            self.finish_vod_part(&mut out);
        }
        let listed: Vec<usize> = (0..entries.len()).filter(|&i| !self.renditions[i].shed).collect();
        let audio_bytes = g.audio.as_ref().map_or(0, |a| a.bytes);
        let (channel, stream_id) = (&self.cfg.channel, &self.cfg.stream_id);
        let labels = self.cfg.renditions.iter().map(|d| d.label.as_str()).zip(&g.renditions);
        for (label, seg) in labels.chain(g.audio.as_ref().map(|a| (AUDIO_LABEL, a))) {
            if let Some(m) = &seg.media {
                self.inits.insert(crate::hls::paths::rendition_file_path(channel, stream_id, label, &m.init));
            }
        }
        if let Some(entry) = &audio_entry {
            if self.audio.is_none() {
                self.audio = Some(RenditionState::new(&self.cfg));
            }
            self.push_live(RenditionKind::Audio, entry.clone(), &mut out);
            self.live_master.record_audio(audio_bytes, entry.duration);
        }
        for &i in &listed {
            let entry = &entries[i];
            self.push_live(RenditionKind::Video(i), entry.clone(), &mut out);
            self.live_master.record(i, g.renditions[i].bytes, entry.duration);
        }
        if self.cfg.record {
            self.vod_part = Some(part);
            if let Some(entry) = &audio_entry {
                self.push_vod(RenditionKind::Audio, part, entry, &mut out);
                self.vod_master.record_audio(audio_bytes, entry.duration);
            }
            for &i in &listed {
                let entry = &entries[i];
                self.push_vod(RenditionKind::Video(i), part, entry, &mut out);
                self.vod_master.record(i, g.renditions[i].bytes, entry.duration);
            }
        }
        if self.masters_enabled() {
            if tracks_changed || self.live_master.needs_write() {
                out.writes.push(self.live_master_write());
            }
            if self.cfg.record && (tracks_changed || self.vod_master.needs_write()) {
                out.writes.push(self.vod_master_write(part));
            }
        }
        if let Some(index) = self.dash.as_mut() {
            let published = dash::Published {
                n: g.n,
                program_date_time_ms: g.program_date_time_ms,
                discontinuity,
                video: (g.renditions.iter().zip(&self.renditions))
                    .map(|(seg, r)| with_bytes(seg).filter(|_| !r.shed))
                    .collect(),
                audio: g.audio.as_ref().and_then(with_bytes),
            };
            index.record(&published, self.cfg.live_size, self.cfg.record.then_some(new_part));
        }
        self.dash_writes(&mut out);
        self.published += 1;
        self.last_n = Some(g.n);
        if !self.cfg.record {
            self.delete_old_segments(g.n, &mut out);
        }
        Ok(out)
    }

    /// End of stream: ENDLIST in every live playlist, the current part finished, final masters.
    /// Idempotent; nothing is written for a stream that never published.
    pub fn finish(&mut self) -> Publication {
        let mut out = Publication::default();
        if std::mem::replace(&mut self.finished, true) || self.published == 0 {
            return out;
        }
        for (r, desc) in self.renditions.iter_mut().zip(&self.cfg.renditions).filter(|(r, _)| !r.shed) {
            r.live.end();
            let path = live_path(&self.cfg.channel, &self.cfg.stream_id, &desc.label);
            out.writes.push(FileWrite { path, content: r.live.render(), announce: None });
        }
        if let Some(r) = self.audio.as_mut() {
            r.live.end();
            let path = live_path(&self.cfg.channel, &self.cfg.stream_id, AUDIO_LABEL);
            out.writes.push(FileWrite { path, content: r.live.render(), announce: None });
        }
        if self.masters_enabled() {
            out.writes.push(self.live_master_write());
        }
        if let Some(index) = self.dash.as_mut() {
            index.end();
        }
        self.dash_writes(&mut out);
        self.finish_vod_part(&mut out);
        out
    }

    /// `HLS_DASH`: the live manifest, and the current part's, as the state now stands.
    fn dash_writes(&self, out: &mut Publication) {
        let Some(index) = self.dash.as_ref().filter(|d| !d.is_empty()) else {
            return;
        };
        let shed: Vec<bool> = self.renditions.iter().map(|r| r.shed).collect();
        let ladder = DashLadder { renditions: &self.cfg.renditions, shed: &shed, hls_time: self.cfg.hls_time };
        let (channel, id) = (&self.cfg.channel, &self.cfg.stream_id);
        let content = index.live_mpd(&ladder).render();
        out.writes.push(FileWrite { path: dash::live_mpd_path(channel, id), content, announce: None });
        if let Some(part) = self.vod_part.filter(|_| self.cfg.record) {
            let content = index.vod_mpd(&ladder).render();
            out.writes.push(FileWrite { path: dash::vod_mpd_path(channel, id, part), content, announce: None });
        }
    }

    /// Rejects a group that does not fit; returns its durations reduced to lowest terms.
    fn check(&self, g: &GroupRecord) -> Result<Vec<Ratio<i64>>, PublishError> {
        let n = g.n;
        if self.finished {
            return Err(PublishError::Finished { n });
        }
        let expected = self.cfg.renditions.len();
        if g.renditions.len() != expected {
            return Err(PublishError::RenditionCount { n, expected, got: g.renditions.len() });
        }
        if let Some(change) = g.tracks.as_ref().filter(|c| c.codecs.len() != expected) {
            return Err(PublishError::RenditionCount { n, expected, got: change.codecs.len() });
        }
        if let Some(last) = self.last_n.filter(|&last| n <= last) {
            return Err(PublishError::NotIncreasing { n, last });
        }
        let durations = g.renditions.iter().enumerate().map(|(rendition, seg)| {
            let (numer, denom) = (*seg.duration.numer(), *seg.duration.denom());
            // Ratio::new negates i64::MIN parts when normalising signs, so keep them out.
            let valid =
                denom != 0 && numer != i64::MIN && denom != i64::MIN && (numer == 0 || (numer > 0) == (denom > 0));
            if valid {
                Ok(Ratio::new(numer, denom))
            } else {
                Err(PublishError::BadDuration { n, rendition, numer, denom })
            }
        });
        durations.collect()
    }

    fn masters_enabled(&self) -> bool {
        self.cfg.master && !self.cfg.renditions.is_empty()
    }

    /// A rendition's label, its state, and whether it is announced (only video renditions).
    fn rendition_mut(&mut self, kind: RenditionKind) -> (&StreamConfig, &str, &mut RenditionState, bool) {
        match kind {
            RenditionKind::Video(i) => (&self.cfg, &self.cfg.renditions[i].label, &mut self.renditions[i], true),
            RenditionKind::Audio => {
                (&self.cfg, AUDIO_LABEL, self.audio.as_mut().expect("audio rendition created before use"), false)
            }
        }
    }

    fn push_live(&mut self, kind: RenditionKind, entry: PlaylistEntry, out: &mut Publication) {
        let (cfg, label, r, announced) = self.rendition_mut(kind);
        r.live.push(entry);
        let path = live_path(&cfg.channel, &cfg.stream_id, label);
        let first = !std::mem::replace(&mut r.live_announced, true);
        let announce = (first && announced).then(|| Announcement {
            stream_type: StreamType::HlsLive,
            resolution: label.to_string(),
            index_file: path.clone(),
            start_time: None,
        });
        out.writes.push(FileWrite { path, content: r.live.render(), announce });
    }

    fn push_vod(&mut self, kind: RenditionKind, part: u64, entry: &PlaylistEntry, out: &mut Publication) {
        let (cfg, label, r, announced) = self.rendition_mut(kind);
        let vod = r.vod.get_or_insert_with(|| VodPart::new(part, cfg.hls_time));
        let first_write = vod.is_empty();
        // The current part is finished only by `finish_vod_part`, which also drops it.
        let pushed = vod.push(entry);
        debug_assert!(pushed.is_ok(), "{pushed:?}");
        let path = vod_path(&cfg.channel, &cfg.stream_id, label, part);
        let announce = (first_write && announced).then(|| Announcement {
            stream_type: StreamType::HlsVod,
            resolution: label.to_string(),
            index_file: path.clone(),
            start_time: (part >= 1).then(|| decimal_trimmed(r.vod_start)),
        });
        out.writes.push(FileWrite { path, content: vod.render(), announce });
    }

    /// Rewrites every rendition's current part as VOD + ENDLIST, and its master with final
    /// values; the next entry starts part K+1 whose Start-Time includes this part.
    fn finish_vod_part(&mut self, out: &mut Publication) {
        let Some(part) = self.vod_part.take() else {
            return;
        };
        let labels = self.cfg.renditions.iter().map(|d| d.label.as_str()).chain(Some(AUDIO_LABEL));
        for (r, label) in self.renditions.iter_mut().chain(self.audio.as_mut()).zip(labels) {
            let Some(mut vod) = r.vod.take().filter(|v| !v.is_empty()) else {
                continue;
            };
            vod.finish();
            r.vod_start = add_duration(r.vod_start, vod.total_duration());
            let path = vod_path(&self.cfg.channel, &self.cfg.stream_id, label, part);
            out.writes.push(FileWrite { path, content: vod.render(), announce: None });
        }
        if self.masters_enabled() {
            out.writes.push(self.vod_master_write(part));
        }
        self.vod_master = MasterPlaylist::new(self.cfg.renditions.len());
        self.vod_master.set_captions(self.captions);
    }

    fn live_master_write(&mut self) -> FileWrite {
        let unlisted = self.unlisted();
        let audio = self.audio.is_some().then_some(AudioGroup { index_file: "live.m3u8" });
        let content =
            self.live_master.render_grouped(&self.cfg.renditions, &unlisted, self.cfg.audio_kbps, "live.m3u8", audio);
        FileWrite { path: master_path(&self.cfg.channel, &self.cfg.stream_id), content, announce: None }
    }

    fn vod_master_write(&mut self, part: u64) -> FileWrite {
        let index = format!("vod-{part}.m3u8");
        let unlisted = self.unlisted();
        let audio = self.audio.is_some().then_some(AudioGroup { index_file: &index });
        let content =
            self.vod_master.render_grouped(&self.cfg.renditions, &unlisted, self.cfg.audio_kbps, &index, audio);
        let path = master_vod_path(&self.cfg.channel, &self.cfg.stream_id, part);
        FileWrite { path, content, announce: None }
    }

    fn unlisted(&self) -> Vec<bool> {
        self.renditions.iter().map(|r| r.shed).collect()
    }

    /// Record False: segments numbered below N+1−2L go, but the newest 2L published always
    /// stay, so that after skips no playlist still listing a segment loses it.
    fn delete_old_segments(&mut self, n: u64, out: &mut Publication) {
        self.stored.push_back(n);
        let keep = 2 * u64::from(self.cfg.live_size.max(1));
        let below = (n + 1).saturating_sub(keep);
        while self.stored.len() as u64 > keep && self.stored.front().is_some_and(|&old| old < below) {
            let Some(old) = self.stored.pop_front() else {
                break;
            };
            let (cfg, format) = (&self.cfg, self.cfg.format);
            for (desc, r) in cfg.renditions.iter().zip(&self.renditions) {
                if r.keep_from.is_none_or(|keep| old < keep) {
                    out.deletes.push(media_segment_path(format, &cfg.channel, &cfg.stream_id, &desc.label, old));
                }
            }
            if self.audio.is_some() {
                out.deletes.push(media_segment_path(format, &cfg.channel, &cfg.stream_id, AUDIO_LABEL, old));
            }
        }
    }
}

/// A CMAF segment's timing and size, as the DASH manifests take it.
fn with_bytes(seg: &RenditionSegment) -> Option<(&SegmentMedia, u64)> {
    Some((seg.media.as_ref()?, seg.bytes))
}

#[cfg(test)]
mod tests;
