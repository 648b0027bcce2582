//! The publisher's bookkeeping, sans IO: what the pipeline produced and what storage
//! confirmed go in ([`Input`]), what to store, delete and report comes out ([`Action`]). It
//! carries DESIGN invariant 1: a group is listed only once every rendition's segment is
//! durable, groups are published in increasing N, and an index is announced only after a
//! write of it succeeded. The playlist texts themselves come from the pure
//! [`StreamState`]; the I/O shell in `super` executes the actions.
//!
//! Skip policy (output-layout §6): a group that cannot be made durable is dropped from every
//! rendition and the next published group marks a discontinuity. With Record False a segment
//! is given up after `HLS_STORAGE_RETRY_SECONDS` ([`Retry::UntilDeadline`]); with Record True
//! it is retried for as long as the transcode runs ([`Retry::WhileRunning`]), so only a full
//! upload queue (the pipeline drops the segment: [`Input::SegmentDropped`]) or an error that
//! cannot heal skips a recorded group (DESIGN invariant 4).

use std::collections::{BTreeMap, HashMap, HashSet};

use bytes::Bytes;

use std::sync::Arc;

use crate::cdn::CdnConfig;
use crate::child_protocol::Event;
use crate::hls::media::{RenditionKind, SegmentFormat, SegmentMedia, AUDIO_LABEL};
use crate::hls::parts::{OpenSegment, PartEntry, PartWindow, RenditionReport};
use crate::hls::state::{
    Announcement, FileWrite, GroupRecord, Publication, RenditionDesc, RenditionSegment, StreamConfig, StreamState,
    StreamType, TrackChange,
};
use crate::ladder::Rendition;
use crate::pipeline::captions::CaptionServices;
use crate::pipeline::clock::Q;
use crate::pipeline::preview::PreviewSpec;
pub use crate::pipeline::sink::{Chunk, CmafOutput};
use crate::storage::RetryPolicy;
use parts::{Append, Growing, PartPlace, Parts};

/// Everything that moves the publisher.
#[derive(Debug, Clone)]
pub struct PublishSettings {
    pub channel: String,
    pub stream_id: String,
    pub hls_time: u32,
    pub live_size: u32,
    pub vod_max_size: u32,
    pub record: bool,
    pub master: bool,
    pub audio_kbps: u32,
    pub previews: Option<PreviewSpec>,
    pub retry: RetryPolicy,
    pub first_segment: u64,
    pub first_preview: u64,
    /// State of an earlier run of this stream (restart): playlists continue from it.
    pub resume: Option<StreamState>,
    /// The HLS WebSocket CDN push, when on (output-layout §14).
    pub cdn: Option<Arc<CdnConfig>>,
    /// Where this run's media time 0 lies on the stream's timeline (restart: the end of the
    /// last group published before).
    pub timeline_offset: Q,
    /// `HLS_SEGMENT_FORMAT`.
    pub format: SegmentFormat,
    /// `HLS_DASH`: DASH manifests beside the masters (CMAF only).
    pub dash: bool,
    /// `HLS_PART_SECONDS` (CMAF only): the LL-HLS part target; the live playlists list parts.
    pub part_target: Option<Q>,
}

/// What the publisher knows at the end, for the exit status and summary.
#[derive(Debug, Default, Clone, Copy)]
pub struct PublishSummary {
    pub published: u64,
    pub skipped: u64,
    pub previews: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The pipeline opened the source and chose the ladder (`now_ms`: wall clock, the origin
    /// of PROGRAM-DATE-TIME for this run).
    Ladder { renditions: Vec<Rendition>, audio: bool, source: String, now_ms: i64 },
    /// Segment `n` of rendition `rung` is complete in memory.
    /// `discontinuity`: the segment starts a new timeline in its rendition; the group is
    /// published with `#EXT-X-DISCONTINUITY`.
    /// `cmaf`: what a CMAF segment brings besides its bytes (its timing, its init segment and
    /// the audio rendition's segment `n`); `None` in TS mode.
    Segment {
        rung: usize,
        n: u64,
        data: Bytes,
        duration: Q,
        start: Q,
        codecs: String,
        discontinuity: bool,
        cmaf: Option<Box<CmafOutput>>,
    },
    /// LL-HLS: part `chunk.index` of segment `n` of a rendition (`start`: the segment's first
    /// picture, run time; `discontinuity`: the segment starts a new timeline).
    Part { kind: RenditionKind, n: u64, start: Q, discontinuity: bool, chunk: Chunk },
    /// Segment `n` of some rendition was dropped by the pipeline (upload queue full).
    SegmentDropped { n: u64 },
    /// Rendition `rung` was shed under overload: groups from `n` on come without it.
    RenditionShed { rung: usize, n: u64 },
    /// The source carries these closed-caption services (found so far in this run).
    Captions(CaptionServices),
    /// Preview image `n`.
    Preview { n: u64, jpeg: Bytes },
    /// A put finished: `ok` means durable.
    Stored { op: Op, ok: bool },
    /// The pipeline is done: no more segments or previews will come.
    PipelineDone,
    /// The CDN push of rendition `rung` is connected: its held HLS-LIVE announcement goes out.
    PushReady { rung: usize },
    /// `HLS_WS_CDN_READY_TIMEOUT_SECONDS` passed since an [`Action::HoldForPush`] of `rung`:
    /// the oldest announcement held for it goes out without the push.
    PushWaitOver { rung: usize },
    /// The stream is over and the pushes close: everything still held goes out (its playlist
    /// is durable).
    PushClosed,
}

/// What a put was for; it comes back in [`Input::Stored`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Op {
    Segment {
        n: u64,
        rung: usize,
        len: usize,
    },
    Preview {
        n: u64,
    },
    /// Segment `n` of the audio rendition (CMAF).
    Audio {
        n: u64,
    },
    /// LL-HLS: an append of segment `n` of a rendition, storing its first `len` bytes.
    Part {
        kind: RenditionKind,
        n: u64,
        len: usize,
    },
    /// A CMAF init segment: stored once, before any playlist lists a segment needing it.
    Init {
        path: String,
    },
    /// A playlist or `index.json`: one in flight per path, newer content waits (latest wins).
    Write {
        path: String,
    },
}

/// How long a put is retried (retryable errors only; others fail at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Until `HLS_STORAGE_RETRY_SECONDS` has passed.
    UntilDeadline,
    /// Until the transcode aborts: a recorded segment is never given up while it runs.
    WhileRunning,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Put {
        op: Op,
        path: String,
        body: Bytes,
        retry: Retry,
    },
    /// Stores `body` at `path`, where `body[..from]` is stored already (LL-HLS: a segment
    /// growing part by part).
    Append {
        op: Op,
        path: String,
        body: Bytes,
        from: usize,
        retry: Retry,
    },
    Delete {
        path: String,
    },
    Emit(Event),
    /// An HLS-LIVE announcement of `rung` waits for its CDN push (output-layout §14): answer
    /// with [`Input::PushWaitOver`] after the ready timeout, unless [`Input::PushReady`] came.
    HoldForPush {
        rung: usize,
    },
}

#[derive(Default)]
struct Group {
    /// Per rendition, once the pipeline produced it.
    members: Vec<Option<Member>>,
    /// Per rendition: the segment's master `CODECS` (video, and audio when it carries any).
    codecs: Vec<String>,
    /// CMAF: the audio rendition's segment, from the first video rendition that brought it
    /// (every rendition cuts the same audio at the same boundary).
    audio: Option<Member>,
    /// Some rendition starts a new timeline with this group.
    discontinuity: bool,
    dropped: bool,
    in_flight: usize,
}

/// One rendition's segment of a group.
#[derive(Clone)]
struct Member {
    duration: Q,
    start: Q,
    bytes: u64,
    durable: bool,
    /// CMAF: timing, and the init segment (path in `inits`) that must be durable first.
    media: Option<(SegmentMedia, String)>,
}

#[derive(Default)]
struct WriteSlot {
    /// The write in flight, with the announcement it carries.
    in_flight: Option<Option<Announcement>>,
    /// Newer content waiting for the write in flight (latest wins).
    pending: Option<(String, Option<Announcement>)>,
    /// An announcement whose write failed: it rides on the next write of the same file.
    carry: Option<Announcement>,
    /// Contents handed in so far; the newest is always the one stored last (latest wins).
    submitted: u64,
    /// Which of them the write in flight carries.
    in_flight_generation: u64,
    /// The newest one known durable: any content at least this new is in storage.
    durable: u64,
}

pub struct PublisherCore {
    settings: PublishSettings,
    ladder: Vec<Rendition>,
    /// Per rendition: the first group it is shed from (overload), if it is.
    shed_from: Vec<Option<u64>>,
    audio: bool,
    state: Option<StreamState>,
    groups: BTreeMap<u64, Group>,
    /// The next group to publish or skip.
    next_n: u64,
    writes: HashMap<String, WriteSlot>,
    run_start_ms: i64,
    /// Preview bodies in flight, for a substitute if the previous image's store fails.
    previews_in_flight: HashMap<u64, Bytes>,
    /// The newest durable image (and the ones above the contiguous count), for substitution.
    previews_durable: BTreeMap<u64, Bytes>,
    /// Images already replaced once; a second failure gives the number up.
    previews_substituted: HashSet<u64>,
    preview_count: u64,
    preview_announced: bool,
    /// The thumbnail track's writes, which `index.json` follows.
    thumbnails: thumbnails::TrackWrites,
    pipeline_done: bool,
    finished: bool,
    summary: PublishSummary,
    /// With the CDN push on: per rendition, whether its push is connected.
    push_ready: Option<Vec<bool>>,
    /// HLS-LIVE announcements waiting for their rendition's push, oldest first.
    held: Vec<(usize, Event)>,
    /// CMAF init segments by path: `true` once durable, `false` while being stored.
    inits: HashMap<String, bool>,
    /// Closed-caption services the pipeline found in the source during this run.
    captions: CaptionServices,
    /// Per announced index file: the DASH manifests written with its group, as
    /// (path, generation); its announcement waits until each is durable.
    gates: HashMap<String, Vec<(String, u64)>>,
    /// Announcements durable themselves but waiting for their gate, oldest first.
    gated: Vec<Announcement>,
    /// LL-HLS (`HLS_PART_SECONDS`): every rendition's growing and recent segments' parts.
    parts: Option<Parts>,
}

impl PublisherCore {
    pub fn new(settings: PublishSettings, now_ms: i64) -> Self {
        let settings_cdn_on = settings.cdn.is_some();
        let settings_part_target = settings.part_target;
        let mut state = settings.resume.clone();
        // A restarted run: its first group starts a new timeline.
        if let Some(s) = state.as_mut() {
            s.mark_discontinuity_next();
        }
        PublisherCore {
            next_n: settings.first_segment,
            preview_count: settings.first_preview,
            preview_announced: settings.first_preview > 0,
            thumbnails: thumbnails::TrackWrites::resuming(settings.first_preview),
            settings,
            ladder: Vec::new(),
            shed_from: Vec::new(),
            audio: false,
            state,
            groups: BTreeMap::new(),
            writes: HashMap::new(),
            run_start_ms: now_ms,
            previews_in_flight: HashMap::new(),
            previews_durable: BTreeMap::new(),
            previews_substituted: HashSet::new(),
            pipeline_done: false,
            finished: false,
            summary: PublishSummary::default(),
            push_ready: settings_cdn_on.then(Vec::new),
            held: Vec::new(),
            inits: HashMap::new(),
            captions: CaptionServices::default(),
            gates: HashMap::new(),
            gated: Vec::new(),
            parts: settings_part_target.map(Parts::new),
        }
    }

    /// True once the pipeline is done and the stream's final playlists were handed out; the
    /// shell still runs the puts in flight to their end.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The stream's channel and id.
    pub fn stream(&self) -> (String, String) {
        (self.settings.channel.clone(), self.settings.stream_id.clone())
    }

    pub fn summary(&self) -> PublishSummary {
        PublishSummary { previews: self.preview_count, ..self.summary }
    }

    pub fn handle(&mut self, input: Input) -> Vec<Action> {
        let mut out = Vec::new();
        match input {
            Input::Ladder { renditions, audio, source, now_ms } => {
                self.run_start_ms = now_ms;
                self.audio = audio;
                out.push(Action::Emit(Event::Started {
                    channel: self.settings.channel.clone(),
                    stream_id: self.settings.stream_id.clone(),
                    source,
                    audio,
                    renditions: renditions.clone(),
                }));
                // A restarted run: what the runs before it shed stays shed.
                let first = self.settings.first_segment;
                self.shed_from = (0..renditions.len())
                    .map(|i| self.state.as_ref().is_some_and(|s| s.is_shed(i)).then_some(first))
                    .collect();
                if let Some(ready) = self.push_ready.as_mut() {
                    ready.resize(renditions.len(), false);
                }
                self.ladder = renditions;
            }
            Input::RenditionShed { rung, n } => {
                if let Some(from) = self.shed_from.get_mut(rung) {
                    *from = Some(from.map_or(n, |f| f.min(n)));
                }
                self.publish_ready(&mut out);
            }
            Input::Segment { rung, n, data, duration, start, codecs, discontinuity, cmaf } => {
                let part = Member { duration, start, bytes: 0, durable: false, media: None };
                self.on_segment(rung, n, data, part, (codecs, discontinuity, cmaf), &mut out)
            }
            Input::Part { kind, n, start, discontinuity, chunk } => {
                self.on_part(kind, n, start, discontinuity, chunk, &mut out)
            }
            Input::SegmentDropped { n } => {
                if n >= self.next_n {
                    self.group(n).dropped = true;
                }
                self.publish_ready(&mut out);
            }
            Input::Captions(services) => self.captions = self.captions.union(services),
            Input::Preview { n, jpeg } => {
                self.previews_in_flight.insert(n, jpeg.clone());
                out.push(self.put(Op::Preview { n }, self.preview_path(&format!("{n}.jpg")), jpeg));
            }
            Input::Stored { op, ok } => self.on_stored(op, ok, &mut out),
            Input::PipelineDone => self.pipeline_done = true,
            Input::PushReady { rung } => {
                if let Some(ready) = self.push_ready.as_mut().and_then(|r| r.get_mut(rung)) {
                    *ready = true;
                }
                self.release_held(|r| r == rung, usize::MAX, &mut out);
            }
            Input::PushWaitOver { rung } => {
                let before = self.held.len();
                self.release_held(|r| r == rung, 1, &mut out);
                if self.held.len() < before {
                    tracing::warn!(
                        rendition = %self.ladder.get(rung).map_or("?", |r| r.label.as_str()),
                        "the CDN push is not ready after HLS_WS_CDN_READY_TIMEOUT_SECONDS: announcing without it"
                    );
                }
            }
            Input::PushClosed => self.release_held(|_| true, usize::MAX, &mut out),
        }
        self.finish_when_done(&mut out);
        out
    }

    fn on_segment(
        &mut self,
        rung: usize,
        n: u64,
        data: Bytes,
        mut part: Member,
        (codecs, discontinuity, cmaf): (String, bool, Option<Box<CmafOutput>>),
        out: &mut Vec<Action>,
    ) {
        if n < self.next_n || rung >= self.ladder.len() {
            tracing::error!(n, rung, "segment for a group already decided or an unknown rendition: ignored");
            return;
        }
        if !self.groups.contains_key(&n) {
            out.push(Action::Emit(Event::SegmentCut { n }));
        }
        let len = data.len();
        part.bytes = len as u64;
        let retry = self.segment_retry();
        let mut audio = None;
        if let Some(cmaf) = cmaf.map(|c| *c) {
            let label = self.ladder[rung].label.clone();
            part.duration = cmaf.media.duration();
            let init = self.store_init(&label, &cmaf.media.init, cmaf.init, out);
            part.media = Some((cmaf.media, init));
            audio = cmaf.audio;
        }
        let group = self.group(n);
        group.members[rung] = Some(part);
        group.codecs[rung] = codecs;
        group.discontinuity |= discontinuity;
        group.in_flight += 1;
        let path = self.segment_path(rung, n);
        self.write_segment(RenditionKind::Video(rung), n, path, (Op::Segment { n, rung, len }, data, retry), out);
        if let Some(audio) = audio.filter(|_| self.groups.get(&n).is_some_and(|g| g.audio.is_none())) {
            let init = self.store_init(AUDIO_LABEL, &audio.media.init, audio.init, out);
            let (duration, len) = (audio.media.duration(), audio.data.len());
            let part = Member {
                duration,
                start: part_start(&audio.media),
                bytes: len as u64,
                durable: false,
                media: Some((audio.media, init)),
            };
            let group = self.group(n);
            group.audio = Some(part);
            group.in_flight += 1;
            let path = self.rendition_path(AUDIO_LABEL, n);
            self.write_segment(RenditionKind::Audio, n, path, (Op::Audio { n }, audio.data, retry), out);
        }
    }

    /// Stores a segment: a put, or with LL-HLS parts the last append of its file.
    fn write_segment(
        &mut self,
        kind: RenditionKind,
        n: u64,
        path: String,
        write: (Op, Bytes, Retry),
        out: &mut Vec<Action>,
    ) {
        match self.parts.as_mut() {
            Some(parts) => out.extend(parts.on_segment(kind, n, path, write).map(append)),
            None => {
                let (op, body, retry) = write;
                out.push(Action::Put { op, path, body, retry });
            }
        }
    }

    /// An LL-HLS part: its bytes are appended to its segment's file (and its init segment
    /// stored); it is listed once durable.
    fn on_part(
        &mut self,
        kind: RenditionKind,
        n: u64,
        start: Q,
        discontinuity: bool,
        chunk: Chunk,
        out: &mut Vec<Action>,
    ) {
        let unknown_or_shed = |rung: usize| rung >= self.ladder.len() || self.is_shed(rung, n);
        if n < self.next_n || self.parts.is_none() || matches!(kind, RenditionKind::Video(r) if unknown_or_shed(r)) {
            return;
        }
        let label = self.label_of(kind);
        let init_path = self.store_init(&label, &chunk.init.0, chunk.init.1.clone(), out);
        let place = PartPlace { path: self.rendition_path(&label, n), init_path, start, discontinuity };
        let parts = self.parts.as_mut().expect("checked");
        out.extend(parts.on_part(kind, n, place, chunk).map(append));
    }

    /// LL-HLS: the live playlist of `kind` again, listing the parts durable now.
    fn write_low_latency_live(&mut self, kind: RenditionKind, out: &mut Vec<Action>) {
        let Some(content) = self.low_latency_live(kind) else { return };
        let path = crate::hls::live_path(&self.settings.channel, &self.settings.stream_id, &self.label_of(kind));
        self.submit_write(path, content, None, out);
    }

    fn label_of(&self, kind: RenditionKind) -> String {
        match kind {
            RenditionKind::Video(i) => self.ladder.get(i).map_or_else(String::new, |r| r.label.clone()),
            RenditionKind::Audio => AUDIO_LABEL.to_string(),
        }
    }

    /// The renditions with a live playlist now: the video rungs not shed, then the audio.
    fn live_kinds(&self) -> Vec<RenditionKind> {
        let Some(state) = self.state.as_ref() else { return Vec::new() };
        let videos = (0..state.config().renditions.len()).filter(|&i| !state.is_shed(i)).map(RenditionKind::Video);
        videos.chain(state.has_audio_rendition().then_some(RenditionKind::Audio)).collect()
    }

    /// The live playlist of `kind` with its LL-HLS lines; `None` without parts, before the
    /// first group is published (nothing announced, nothing to join) or for a shed rendition.
    fn low_latency_live(&self, kind: RenditionKind) -> Option<String> {
        let (parts, state) = (self.parts.as_ref()?, self.state.as_ref()?);
        let live = state.live(kind).filter(|_| self.live_kinds().contains(&kind))?;
        let mut window = PartWindow { part_target: parts.target, ..PartWindow::default() };
        for entry in live.entries() {
            let listed: Vec<PartEntry> =
                parts.get(kind, entry.n).map(|g| g.listed().copied().collect()).unwrap_or_default();
            if !listed.is_empty() {
                window.done.insert(entry.n, listed);
            }
        }
        let next = self.open_n();
        let uri = |n: u64| format!("{n}.m4s");
        window.hint = Some((uri(next), 0));
        if let Some(g) = self.growing(kind, next) {
            window.hint = Some(if g.closed() { (uri(next + 1), 0) } else { (uri(next), g.next_offset()) });
            window.open = Some(OpenSegment {
                uri: uri(next),
                parts: g.listed().copied().collect(),
                init: Some(g.init_name.clone()),
                discontinuity: g.discontinuity || state.discontinuity_next(),
                program_date_time_ms: self.run_start_ms + (g.start * 1000).round().to_integer(),
            });
        }
        if !live.is_ended() {
            window.reports = self.rendition_reports(kind);
        }
        Some(live.render_low_latency(&window))
    }

    /// The segment after the last listed one: the next group to publish (while a group is
    /// being published, the one after it).
    fn open_n(&self) -> u64 {
        let after_last = self.state.as_ref().and_then(|s| s.last_published()).map_or(0, |n| n + 1);
        self.next_n.max(after_last)
    }

    /// Segment `n` of `kind` while its parts can be listed (its init segment is durable).
    fn growing(&self, kind: RenditionKind, n: u64) -> Option<&Growing> {
        self.parts.as_ref()?.get(kind, n).filter(|g| self.inits.get(&g.init_path) == Some(&true))
    }

    /// Where every other rendition stands: its last part listed, or its last segment.
    fn rendition_reports(&self, kind: RenditionKind) -> Vec<RenditionReport> {
        let Some(state) = self.state.as_ref() else { return Vec::new() };
        let mut reports = Vec::new();
        for other in self.live_kinds().into_iter().filter(|&k| k != kind) {
            let Some(live) = state.live(other) else { continue };
            let open = self.growing(other, self.open_n()).map_or(0, |g| g.listed().count() as u64);
            let (last_msn, last_part) = match live.entries().last() {
                _ if open > 0 => (live.pushed(), Some(open - 1)),
                Some(last) => {
                    let count = self.growing(other, last.n).map_or(0, |g| g.listed().count() as u64);
                    (live.pushed() - 1, count.checked_sub(1))
                }
                None => continue,
            };
            reports.push(RenditionReport {
                uri: format!("../{}/live.m3u8", self.label_of(other)),
                last_msn,
                last_part,
            });
        }
        reports
    }

    /// An append of a growing segment ended: the next one goes out, and the rendition's live
    /// playlist lists what became durable.
    fn on_part_stored(&mut self, kind: RenditionKind, n: u64, len: usize, ok: bool, out: &mut Vec<Action>) {
        let Some(parts) = self.parts.as_mut() else { return };
        out.extend(parts.on_stored(kind, n, len, ok).map(append));
        if ok {
            self.write_low_latency_live(kind, out);
        }
    }

    fn segment_retry(&self) -> Retry {
        if self.settings.record {
            Retry::WhileRunning
        } else {
            Retry::UntilDeadline
        }
    }

    /// Stores init segment `file` of rendition `label` unless it is stored or on its way;
    /// returns its path.
    fn store_init(&mut self, label: &str, file: &str, body: Bytes, out: &mut Vec<Action>) -> String {
        let (channel, stream_id) = (&self.settings.channel, &self.settings.stream_id);
        let path = crate::hls::rendition_file_path(channel, stream_id, label, file);
        if !self.inits.contains_key(&path) {
            self.inits.insert(path.clone(), false);
            let retry = self.segment_retry();
            out.push(Action::Put { op: Op::Init { path: path.clone() }, path: path.clone(), body, retry });
        }
        path
    }

    /// A group member is ready to be listed: durable, and so is the init segment it needs.
    fn member_ready(&self, member: &Member) -> bool {
        member.durable && member.media.as_ref().is_none_or(|(_, init)| self.inits.get(init) == Some(&true))
    }

    fn on_init_stored(&mut self, path: String, ok: bool, out: &mut Vec<Action>) {
        if ok {
            self.inits.insert(path, true);
        } else {
            // Every group waiting for it is skipped; a later segment needing it stores it again.
            tracing::error!(%path, "init segment could not be stored: the segments that need it are skipped");
            self.inits.remove(&path);
            let needs = |p: &Member| p.media.as_ref().is_some_and(|(_, init)| *init == path);
            for group in self.groups.values_mut() {
                if group.members.iter().flatten().chain(group.audio.as_ref()).any(needs) {
                    group.dropped = true;
                }
            }
        }
        self.publish_ready(out);
    }

    fn on_stored(&mut self, op: Op, ok: bool, out: &mut Vec<Action>) {
        match op {
            Op::Part { kind, n, len } => self.on_part_stored(kind, n, len, ok, out),
            Op::Segment { n, rung, len } => {
                if let Some(parts) = self.parts.as_mut() {
                    parts.on_stored(RenditionKind::Video(rung), n, len, ok);
                }
                if let Some(group) = self.groups.get_mut(&n) {
                    group.in_flight -= 1;
                    match (ok, group.members[rung].as_mut()) {
                        (true, Some(part)) => part.durable = true,
                        _ => group.dropped = true,
                    }
                }
                self.publish_ready(out);
            }
            Op::Audio { n } => {
                let len = self.groups.get(&n).and_then(|g| g.audio.as_ref()).map_or(0, |a| a.bytes as usize);
                if let Some(parts) = self.parts.as_mut() {
                    parts.on_stored(RenditionKind::Audio, n, len, ok);
                }
                if let Some(group) = self.groups.get_mut(&n) {
                    group.in_flight -= 1;
                    match (ok, group.audio.as_mut()) {
                        (true, Some(part)) => part.durable = true,
                        _ => group.dropped = true,
                    }
                }
                self.publish_ready(out);
            }
            Op::Init { path } => self.on_init_stored(path, ok, out),
            Op::Preview { n } => self.on_preview_stored(n, ok, out),
            Op::Write { path } => {
                if self.is_thumbnail_track(&path) {
                    self.on_thumbnail_track_stored(ok, out);
                }
                self.on_write_stored(path, ok, out)
            }
        }
    }

    fn group(&mut self, n: u64) -> &mut Group {
        let renditions = self.ladder.len();
        self.groups.entry(n).or_insert_with(|| Group {
            members: vec![None; renditions],
            codecs: vec![String::new(); renditions],
            ..Group::default()
        })
    }

    /// Publishes (or skips) groups strictly in increasing N while the next one is decided.
    fn publish_ready(&mut self, out: &mut Vec<Action>) {
        while let Some(group) = self.groups.get(&self.next_n) {
            let n = self.next_n;
            let complete = group
                .members
                .iter()
                .enumerate()
                .all(|(i, p)| self.is_shed(i, n) || p.as_ref().is_some_and(|p| self.member_ready(p)))
                && group.audio.as_ref().is_none_or(|p| self.member_ready(p));
            if complete && !group.dropped {
                let group = self.groups.remove(&n).expect("present");
                self.publish_group(n, group, out);
            } else if group.dropped && group.in_flight == 0 {
                let group = self.groups.remove(&n).expect("present");
                self.skip_group(n, group, out);
            } else {
                return;
            }
            self.next_n += 1;
        }
    }

    /// Whether rendition `rung` is shed for group `n`.
    fn is_shed(&self, rung: usize, n: u64) -> bool {
        self.shed_from.get(rung).copied().flatten().is_some_and(|from| from <= n)
    }

    fn publish_group(&mut self, n: u64, group: Group, out: &mut Vec<Action>) {
        // A shed rendition's entry is a placeholder the state ignores.
        let gone =
            Member { duration: Q::from_integer(0), start: Q::from_integer(0), bytes: 0, durable: true, media: None };
        let parts: Vec<Member> = group.members.iter().map(|p| p.clone().unwrap_or_else(|| gone.clone())).collect();
        let Some(first) = group.members.iter().flatten().next().cloned() else {
            tracing::error!(n, "group with every rendition shed: not published");
            return;
        };
        let mut record = GroupRecord {
            n,
            discontinuity: group.discontinuity,
            program_date_time_ms: self.run_start_ms + (first.start * 1000).round().to_integer(),
            renditions: parts.iter().map(rendition_segment).collect(),
            tracks: None,
            audio: group.audio.as_ref().map(rendition_segment),
            captions: None,
        };
        let mut codecs = group.codecs.clone();
        if self.state.is_none() {
            // A rendition shed before its first segment advertises what the others do.
            let known = codecs.iter().find(|c| !c.is_empty()).cloned().unwrap_or_default();
            let filled: Vec<String> =
                codecs.iter().map(|c| if c.is_empty() { known.clone() } else { c.clone() }).collect();
            let config = self.stream_config(&filled);
            out.push(Action::Emit(Event::Stream { config: config.clone() }));
            self.state = Some(StreamState::new(config));
        }
        self.apply_sheds(n, out);
        let state = self.state.as_mut().expect("just set");
        for (i, c) in codecs.iter_mut().enumerate() {
            if state.is_shed(i) {
                c.clone_from(&state.config().renditions[i].codecs);
            }
        }
        record.tracks = track_change(state.config(), &codecs, self.settings.audio_kbps);
        if state.captions().lacks_any_of(self.captions) {
            record.captions = Some(state.captions().union(self.captions));
        }
        if record.tracks.is_some() {
            tracing::info!(n, codecs = %group.codecs.join(" "), "the segments' streams changed: new timeline from this group");
        }
        let publication = match state.publish(&record) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(n, "group not published: {e}");
                return;
            }
        };
        self.summary.published += 1;
        self.summary.bytes += parts.iter().chain(group.audio.as_ref()).map(|p| p.bytes).sum::<u64>();
        // The event goes out before the playlist writes: a supervisor mirroring the state
        // may then be one group ahead of storage, never behind it (segments are durable).
        let timeline_end = Some(self.settings.timeline_offset + first.start + first.duration);
        out.push(Action::Emit(Event::Segment { group: record, publish_seconds: None, timeline_end }));
        self.apply(publication, out);
        self.forget_unlisted_parts();
    }

    /// LL-HLS: the parts of segments that left the live window are listed no more.
    fn forget_unlisted_parts(&mut self) {
        let kinds = self.live_kinds();
        let (Some(parts), Some(state)) = (self.parts.as_mut(), self.state.as_ref()) else { return };
        for kind in kinds {
            if let Some(first) = state.live(kind).and_then(|live| live.first_listed()) {
                parts.forget_before(kind, first);
            }
        }
    }

    /// Renditions shed from group `n` on leave the playlists before it is published; the
    /// event goes out first so a mirroring supervisor sheds at the same point.
    fn apply_sheds(&mut self, n: u64, out: &mut Vec<Action>) {
        let Some(state) = self.state.as_mut() else { return };
        let mut publications = Vec::new();
        for (rung, from) in self.shed_from.iter().enumerate() {
            if from.is_some_and(|f| f <= n) && !state.is_shed(rung) {
                let rendition = self.ladder[rung].label.clone();
                out.push(Action::Emit(Event::RenditionShed { rung, rendition, n }));
                publications.push(state.shed(rung));
            }
        }
        for publication in publications {
            self.apply(publication, out);
        }
    }

    fn skip_group(&mut self, n: u64, group: Group, out: &mut Vec<Action>) {
        tracing::error!(n, "segment group could not be stored in every rendition: skipped");
        self.summary.skipped += 1;
        for (rung, part) in group.members.iter().enumerate() {
            if part.as_ref().is_some_and(|p| p.durable) {
                out.push(Action::Delete { path: self.segment_path(rung, n) });
            }
        }
        if group.audio.is_some_and(|p| p.durable) {
            out.push(Action::Delete { path: self.rendition_path(AUDIO_LABEL, n) });
        }
        if let Some(parts) = self.parts.as_mut() {
            // Parts of it may have been appended already, durable segment or not.
            for path in parts.forget(n) {
                if !out.iter().any(|a| matches!(a, Action::Delete { path: p } if *p == path)) {
                    out.push(Action::Delete { path });
                }
            }
        }
        if let Some(state) = self.state.as_mut() {
            state.mark_discontinuity_next();
        }
        out.push(Action::Emit(Event::SegmentSkipped { n, reason: "storage failed or upload queue full".into() }));
    }

    /// Once the pipeline is done and no segment is in flight, no group can complete any more:
    /// the incomplete ones are skipped, and the stream gets its final playlists.
    fn finish_when_done(&mut self, out: &mut Vec<Action>) {
        let inits_in_flight = self.inits.values().any(|durable| !durable);
        if self.finished || !self.pipeline_done || inits_in_flight || self.groups.values().any(|g| g.in_flight > 0) {
            return;
        }
        let shed_from = self.shed_from.clone();
        let incomplete: Vec<u64> = self
            .groups
            .iter()
            .filter(|(&n, group)| {
                let shed = |i: usize| shed_from.get(i).copied().flatten().is_some_and(|from| from <= n);
                !group
                    .members
                    .iter()
                    .enumerate()
                    .all(|(i, p)| shed(i) || p.as_ref().is_some_and(|p| self.member_ready(p)))
            })
            .map(|(&n, _)| n)
            .collect();
        for n in incomplete {
            if let Some(group) = self.groups.get_mut(&n) {
                group.dropped = true;
            }
        }
        // Every group left is decided now; a number never produced is passed over.
        while let Some(&n) = self.groups.keys().next() {
            if n < self.next_n {
                self.groups.remove(&n); // decided already: nothing left to do for it
                continue;
            }
            self.next_n = n;
            self.publish_ready(out);
        }
        self.finished = true;
        if let Some(state) = self.state.as_mut() {
            let publication = state.finish();
            self.apply(publication, out);
        }
    }

    /// Stores a publication's files; the DASH manifests go first, and what it announces is
    /// announced only once they are durable too, as the playlists themselves are.
    fn apply(&mut self, publication: Publication, out: &mut Vec<Action>) {
        let (manifests, playlists): (Vec<FileWrite>, Vec<FileWrite>) =
            publication.writes.into_iter().partition(|w| crate::hls::dash::is_manifest(&w.path));
        let mut gate = Vec::new();
        for w in manifests {
            let generation = self.submit_write(w.path.clone(), w.content, w.announce, out);
            gate.push((w.path, generation));
        }
        for mut w in playlists {
            if let Some(content) = self.low_latency_content(&w.path) {
                w.content = content;
            }
            if let Some(a) = w.announce.as_ref().filter(|_| !gate.is_empty()) {
                self.gates.insert(a.index_file.clone(), gate.clone());
            }
            self.submit_write(w.path, w.content, w.announce, out);
        }
        for path in publication.deletes {
            out.push(Action::Delete { path });
        }
    }

    /// LL-HLS: the content of `path` when it is a rendition's live playlist.
    fn low_latency_content(&self, path: &str) -> Option<String> {
        self.parts.as_ref()?;
        let (channel, stream_id) = (&self.settings.channel, &self.settings.stream_id);
        let kind = self
            .live_kinds()
            .into_iter()
            .find(|&k| crate::hls::live_path(channel, stream_id, &self.label_of(k)) == path)?;
        self.low_latency_live(kind)
    }

    /// Hands in the newest content of `path`; returns its generation.
    fn submit_write(
        &mut self,
        path: String,
        content: String,
        announce: Option<Announcement>,
        out: &mut Vec<Action>,
    ) -> u64 {
        let slot = self.writes.entry(path.clone()).or_default();
        slot.submitted += 1;
        let generation = slot.submitted;
        let announce = announce.or_else(|| slot.carry.take());
        if slot.in_flight.is_some() {
            let previous = slot.pending.take().and_then(|(_, a)| a);
            slot.pending = Some((content, announce.or(previous)));
            return generation;
        }
        slot.in_flight = Some(announce);
        slot.in_flight_generation = generation;
        out.push(self.put(Op::Write { path: path.clone() }, path, Bytes::from(content)));
        generation
    }

    fn on_write_stored(&mut self, path: String, ok: bool, out: &mut Vec<Action>) {
        let slot = self.writes.entry(path.clone()).or_default();
        let announce = slot.in_flight.take().flatten();
        if ok {
            slot.durable = slot.durable.max(slot.in_flight_generation);
        }
        let durable = match (ok, announce) {
            (true, Some(a)) => Some(a),
            (false, Some(a)) => {
                slot.carry = Some(a);
                None
            }
            _ => None,
        };
        let pending = slot.pending.take();
        if let Some(a) = durable {
            self.announce(a, out);
        }
        if ok && !self.gated.is_empty() {
            for a in std::mem::take(&mut self.gated) {
                self.announce(a, out);
            }
        }
        if let Some((content, announce)) = pending {
            self.submit_write(path, content, announce, out);
        }
    }

    /// Whether the manifests written with `a`'s group are durable (always, without DASH).
    fn gate_open(&mut self, a: &Announcement) -> bool {
        let Some(gate) = self.gates.get(&a.index_file) else {
            return true;
        };
        let open =
            gate.iter().all(|(path, generation)| self.writes.get(path).is_some_and(|s| s.durable >= *generation));
        if open {
            self.gates.remove(&a.index_file);
        }
        open
    }

    /// An index is durable: announce it, unless the DASH manifests of its group are not yet
    /// (then it waits for them), or it is a rendition's HLS-LIVE and the CDN push is on but not
    /// connected yet (players sent to the CDN would find nothing): then it waits for the push
    /// or its ready timeout.
    fn announce(&mut self, a: Announcement, out: &mut Vec<Action>) {
        if !self.gate_open(&a) {
            self.gated.push(a);
            return;
        }
        let live = a.stream_type == StreamType::HlsLive;
        let event = Event::IndexAvailable {
            stream_type: a.stream_type,
            resolution: a.resolution,
            index_file: a.index_file,
            start_time: a.start_time,
        };
        let waiting = match (&self.push_ready, &event) {
            (Some(ready), Event::IndexAvailable { resolution, .. }) if live => self
                .ladder
                .iter()
                .position(|r| &r.label == resolution)
                .filter(|&rung| !ready.get(rung).copied().unwrap_or(true)),
            _ => None,
        };
        match waiting {
            Some(rung) => {
                self.held.push((rung, event));
                out.push(Action::HoldForPush { rung });
            }
            None => out.push(Action::Emit(event)),
        }
    }

    /// Emits up to `at_most` held announcements whose rendition `which` selects, oldest first.
    fn release_held(&mut self, which: impl Fn(usize) -> bool, at_most: usize, out: &mut Vec<Action>) {
        let mut released = 0;
        let mut keep = Vec::new();
        for (rung, event) in self.held.drain(..) {
            if released < at_most && which(rung) {
                released += 1;
                out.push(Action::Emit(event));
            } else {
                keep.push((rung, event));
            }
        }
        self.held = keep;
    }

    fn on_preview_stored(&mut self, n: u64, ok: bool, out: &mut Vec<Action>) {
        let Some(body) = self.previews_in_flight.remove(&n) else { return };
        if !ok {
            if !self.previews_substituted.insert(n) {
                tracing::error!(n, "preview could not be stored, nor its substitute: the preview index stops here");
                return;
            }
            // Never leave a hole in the sequence: store the previous image under this number.
            let substitute = self.previews_durable.range(..n).next_back().map(|(_, b)| b.clone()).unwrap_or(body);
            tracing::error!(n, "preview could not be stored; substituting the previous image");
            self.previews_in_flight.insert(n, substitute.clone());
            out.push(self.put(Op::Preview { n }, self.preview_path(&format!("{n}.jpg")), substitute));
            return;
        }
        self.previews_durable.insert(n, body);
        let before = self.preview_count;
        while self.previews_durable.contains_key(&self.preview_count) {
            self.preview_count += 1;
        }
        // Keep only the newest image of the contiguous run (for substitution) and those above.
        let keep_from = self.preview_count.saturating_sub(1);
        self.previews_durable = self.previews_durable.split_off(&keep_from);
        if self.preview_count > before {
            out.push(Action::Emit(Event::PreviewsDurable { count: self.preview_count }));
            // index.json follows once the track listing these images is durable.
            self.grow_thumbnail_track(out);
        }
    }

    fn put(&self, op: Op, path: String, body: Bytes) -> Action {
        Action::Put { op, path, body, retry: Retry::UntilDeadline }
    }

    /// The stream's configuration, advertising the codecs of its first published group.
    /// (Every segment opens at a keyframe, so its codecs are known.)
    fn stream_config(&self, codecs: &[String]) -> StreamConfig {
        let audio = self.audio || codecs.iter().any(|c| c.contains("mp4a"));
        StreamConfig {
            channel: self.settings.channel.clone(),
            stream_id: self.settings.stream_id.clone(),
            renditions: self
                .ladder
                .iter()
                .zip(codecs)
                .map(|(r, codecs)| RenditionDesc {
                    label: r.label.clone(),
                    encoded_width: r.encoded_width,
                    encoded_height: r.encoded_height,
                    frame_rate: r.rate,
                    codecs: codecs.clone(),
                    max_kbps: r.max_kbps,
                })
                .collect(),
            hls_time: self.settings.hls_time,
            live_size: self.settings.live_size,
            vod_max_size: self.settings.vod_max_size,
            record: self.settings.record,
            audio_kbps: if audio { self.settings.audio_kbps } else { 0 },
            master: self.settings.master,
            format: self.settings.format,
            dash: self.settings.dash,
        }
    }

    fn segment_path(&self, rung: usize, n: u64) -> String {
        self.rendition_path(&self.ladder[rung].label, n)
    }

    /// Segment `n` of the rendition in directory `label`.
    fn rendition_path(&self, label: &str, n: u64) -> String {
        let (channel, stream_id) = (&self.settings.channel, &self.settings.stream_id);
        crate::hls::media_segment_path(self.settings.format, channel, stream_id, label, n)
    }

    fn preview_path(&self, file: &str) -> String {
        let label = self.settings.previews.map(|p| p.label()).unwrap_or_default();
        crate::hls::preview::preview_path(&self.settings.channel, &self.settings.stream_id, &label, file)
    }
}

fn append(a: Append) -> Action {
    Action::Append { op: a.op, path: a.path, body: a.body, from: a.from, retry: a.retry }
}

/// A published group member as the playlists record it: CMAF ones carry their exact timing.
fn rendition_segment(p: &Member) -> RenditionSegment {
    RenditionSegment { duration: p.duration, bytes: p.bytes, media: p.media.as_ref().map(|(m, _)| m.clone()) }
}

/// Run-independent start of a CMAF segment in seconds (only used for ordering and logs).
fn part_start(media: &SegmentMedia) -> Q {
    Q::new(media.start as i64, i64::from(media.timescale.max(1)))
}

/// The group's codecs when they differ from what the stream advertises so far (audio that
/// began after the source opened, or a restarted run whose source now sends audio).
/// Segments whose codecs are unknown (no keyframe seen) change nothing.
fn track_change(config: &StreamConfig, codecs: &[String], audio_kbps: u32) -> Option<TrackChange> {
    let known = codecs.iter().all(|c| !c.is_empty());
    let same = config.renditions.iter().map(|r| r.codecs.as_str()).eq(codecs.iter().map(String::as_str));
    if !known || same {
        return None;
    }
    let has_audio = codecs.iter().any(|c| c.contains("mp4a"));
    Some(TrackChange { codecs: codecs.to_vec(), audio_kbps: if has_audio { audio_kbps } else { 0 } })
}

mod parts;
mod thumbnails;

#[cfg(test)]
mod invariants;
#[cfg(test)]
mod tests;
