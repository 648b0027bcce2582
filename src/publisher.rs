//! Publication of one stream: uploads what the pipeline produced, publishes segment groups
//! in order once every rendition's segment is durable, writes playlists (latest wins per
//! file) and emits "index available" only after the index is durable (DESIGN invariant 1).
//! The playlist logic itself is the pure `hls::state::StreamState`; this is its async
//! adapter to storage.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::Instrument as _;

use crate::events::{Event, EventSink};
use crate::hls::state::{
    Announcement, GroupRecord, Publication, RenditionDesc, RenditionSegment, StreamConfig, StreamState, StreamType,
    TrackChange,
};
use crate::ladder::Rendition;
use crate::pipeline::clock::Q;
use crate::pipeline::preview::PreviewSpec;
use crate::pipeline::sink::{ByteBudget, MediaOutput};
use crate::storage::{put_with_retry, RetryPolicy, Storage, StoragePath};

/// Uploads in flight per stream (output-layout §13).
const MAX_UPLOADS: usize = 4;

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
}

/// What the publisher knows at the end, for the exit status and summary.
#[derive(Debug, Default)]
pub struct PublishSummary {
    pub published: u64,
    pub skipped: u64,
    pub previews: u64,
    pub bytes: u64,
}

enum Done {
    Segment { n: u64, rung: usize, len: usize, ok: bool },
    Preview { n: u64, body: Bytes, ok: bool },
    Write { path: String, announce: Option<Announcement>, ok: bool },
    Delete,
}

#[derive(Default)]
struct Group {
    /// Per rendition: (duration, start, bytes, durable?) once the pipeline produced it.
    parts: Vec<Option<Part>>,
    /// Per rendition: the segment's master `CODECS` (video, and audio when it carries any).
    codecs: Vec<String>,
    dropped: bool,
    in_flight: usize,
}

#[derive(Clone, Copy)]
struct Part {
    duration: Q,
    start: Q,
    bytes: u64,
    durable: bool,
}

#[derive(Default)]
struct WriteSlot {
    in_flight: bool,
    pending: Option<(String, Option<Announcement>)>,
    /// An announcement whose write failed: it rides on the next write of the same file.
    carry: Option<Announcement>,
}

pub struct Publisher {
    settings: PublishSettings,
    storage: Arc<dyn Storage>,
    budget: Arc<ByteBudget>,
    events: EventSink,
    ladder: Vec<Rendition>,
    audio: bool,
    state: Option<StreamState>,
    groups: BTreeMap<u64, Group>,
    next_n: u64,
    tasks: JoinSet<Done>,
    limiter: Arc<Semaphore>,
    writes: HashMap<String, WriteSlot>,
    run_start_ms: i64,
    started: Instant,
    previews_durable: BTreeMap<u64, Bytes>,
    preview_count: u64,
    preview_announced: bool,
    summary: PublishSummary,
}

impl Publisher {
    pub fn new(
        settings: PublishSettings,
        storage: Arc<dyn Storage>,
        budget: Arc<ByteBudget>,
        events: EventSink,
    ) -> Self {
        let next_n = settings.first_segment;
        let preview_count = settings.first_preview;
        let state = settings.resume.clone();
        let resumed = state.is_some();
        let mut p = Publisher {
            settings,
            storage,
            budget,
            events,
            ladder: Vec::new(),
            audio: false,
            state,
            groups: BTreeMap::new(),
            next_n,
            tasks: JoinSet::new(),
            limiter: Arc::new(Semaphore::new(MAX_UPLOADS)),
            writes: HashMap::new(),
            run_start_ms: now_ms(),
            started: Instant::now(),
            previews_durable: BTreeMap::new(),
            preview_count,
            preview_announced: preview_count > 0,
            summary: PublishSummary::default(),
        };
        if resumed {
            // The first group of a new run starts a new timeline.
            if let Some(s) = p.state.as_mut() {
                s.mark_discontinuity_next();
            }
        }
        p
    }

    /// Consumes pipeline outputs until the pipeline is done, then finishes the stream:
    /// last groups, ENDLIST, final masters and preview index, all durable on return.
    pub async fn run(mut self, mut rx: UnboundedReceiver<MediaOutput>) -> PublishSummary {
        loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(out) => self.on_output(out),
                    None => break,
                },
                Some(done) = self.tasks.join_next(), if !self.tasks.is_empty() => {
                    self.on_done(done.expect("upload task never panics"));
                }
            }
        }
        while let Some(done) = self.tasks.join_next().await {
            self.on_done(done.expect("upload task never panics"));
        }
        // Groups still incomplete after the pipeline ended cannot complete any more.
        let incomplete: Vec<u64> = self.groups.keys().copied().collect();
        for n in incomplete {
            if let Some(g) = self.groups.get_mut(&n) {
                g.dropped = true;
            }
        }
        self.publish_ready();
        while let Some(done) = self.tasks.join_next().await {
            self.on_done(done.expect("upload task never panics"));
        }
        if let Some(state) = self.state.as_mut() {
            let publication = state.finish();
            self.apply(publication);
        }
        while let Some(done) = self.tasks.join_next().await {
            self.on_done(done.expect("upload task never panics"));
        }
        self.summary.previews = self.preview_count;
        self.summary
    }

    fn on_output(&mut self, out: MediaOutput) {
        match out {
            MediaOutput::Ladder { renditions, audio, source } => {
                // The source is open and decoding starts now: PROGRAM-DATE-TIME counts from here.
                self.run_start_ms = now_ms();
                self.audio = audio;
                self.events.emit(&Event::Started {
                    channel: self.settings.channel.clone(),
                    stream_id: self.settings.stream_id.clone(),
                    source,
                    audio,
                    renditions: renditions.clone(),
                });
                self.ladder = renditions;
            }
            MediaOutput::Segment { rung, n, data, duration, start, codecs } => {
                let len = data.len();
                if !self.groups.contains_key(&n) {
                    self.events.emit(&Event::SegmentCut { n });
                }
                let group = self.group(n);
                group.parts[rung] = Some(Part { duration, start, bytes: len as u64, durable: false });
                group.codecs[rung] = codecs;
                group.in_flight += 1;
                let path = self.segment_path(rung, n);
                self.spawn_upload(path, Bytes::from(data), move |ok| Done::Segment { n, rung, len, ok });
            }
            MediaOutput::SegmentDropped { n, .. } => {
                self.group(n).dropped = true;
                self.publish_ready();
            }
            MediaOutput::Preview { n, jpeg } => {
                let path = self.preview_path(&format!("{n}.jpg"));
                let body = Bytes::from(jpeg);
                let b = body.clone();
                self.spawn_upload(path, body, move |ok| Done::Preview { n, body: b, ok });
            }
            MediaOutput::Progress { media_seconds, frames } => {
                let wall = self.started.elapsed().as_secs_f64().max(1e-3);
                self.events.emit(&Event::Progress { media_seconds, frames, speed: media_seconds / wall });
            }
        }
    }

    fn on_done(&mut self, done: Done) {
        match done {
            Done::Segment { n, rung, len, ok } => {
                self.budget.release(len);
                if let Some(group) = self.groups.get_mut(&n) {
                    group.in_flight -= 1;
                    match (ok, group.parts[rung].as_mut()) {
                        (true, Some(part)) => part.durable = true,
                        _ => group.dropped = true,
                    }
                }
                self.publish_ready();
            }
            Done::Preview { n, body, ok } => self.on_preview_done(n, body, ok),
            Done::Write { path, announce, ok } => self.on_write_done(path, announce, ok),
            Done::Delete => {}
        }
    }

    fn group(&mut self, n: u64) -> &mut Group {
        let renditions = self.ladder.len();
        self.groups.entry(n).or_insert_with(|| Group {
            parts: vec![None; renditions],
            codecs: vec![String::new(); renditions],
            ..Group::default()
        })
    }

    /// Publishes (or skips) groups strictly in increasing N while the next one is ready.
    fn publish_ready(&mut self) {
        while let Some(group) = self.groups.get(&self.next_n) {
            let complete = group.parts.iter().all(|p| p.is_some_and(|p| p.durable));
            let n = self.next_n;
            if complete && !group.dropped {
                let group = self.groups.remove(&n).expect("present");
                self.publish_group(n, group);
            } else if group.dropped && group.in_flight == 0 {
                let group = self.groups.remove(&n).expect("present");
                self.skip_group(n, group);
            } else {
                return;
            }
            self.next_n += 1;
        }
    }

    fn publish_group(&mut self, n: u64, group: Group) {
        let parts: Vec<Part> = group.parts.into_iter().map(|p| p.expect("complete")).collect();
        let start = parts[0].start;
        let mut record = GroupRecord {
            n,
            discontinuity: false,
            program_date_time_ms: self.run_start_ms + (start * 1000).round().to_integer(),
            renditions: parts.iter().map(|p| RenditionSegment { duration: p.duration, bytes: p.bytes }).collect(),
            tracks: None,
        };
        if self.state.is_none() {
            let config = self.stream_config(&group.codecs);
            self.events.emit(&Event::Stream { config: config.clone() });
            self.state = Some(StreamState::new(config));
        }
        let state = self.state.as_mut().expect("just set");
        record.tracks = track_change(state.config(), &group.codecs, self.settings.audio_kbps);
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
        self.summary.bytes += parts.iter().map(|p| p.bytes).sum::<u64>();
        // The event goes out before the playlist writes: a supervisor mirroring the state
        // may then be one group ahead of storage, never behind it (segments are durable).
        self.events.emit(&Event::Segment { group: record });
        self.apply(publication);
    }

    fn skip_group(&mut self, n: u64, group: Group) {
        tracing::error!(n, "segment group could not be stored in every rendition: skipped");
        self.summary.skipped += 1;
        for (rung, part) in group.parts.iter().enumerate() {
            if part.is_some_and(|p| p.durable) {
                let path = self.segment_path(rung, n);
                self.spawn_delete(path);
            }
        }
        if let Some(state) = self.state.as_mut() {
            state.mark_discontinuity_next();
        }
        self.events.emit(&Event::SegmentSkipped { n, reason: "storage failed or upload queue full".into() });
    }

    fn apply(&mut self, publication: Publication) {
        for w in publication.writes {
            self.submit_write(w.path, w.content, w.announce);
        }
        for path in publication.deletes {
            self.spawn_delete(path);
        }
    }

    fn submit_write(&mut self, path: String, content: String, announce: Option<Announcement>) {
        let slot = self.writes.entry(path.clone()).or_default();
        let announce = announce.or_else(|| slot.carry.take());
        if slot.in_flight {
            let previous = slot.pending.take().and_then(|(_, a)| a);
            slot.pending = Some((content, announce.or(previous)));
            return;
        }
        slot.in_flight = true;
        let a = announce.clone();
        let p = path.clone();
        self.spawn_upload(path, Bytes::from(content), move |ok| Done::Write { path: p, announce: a, ok });
    }

    fn on_write_done(&mut self, path: String, announce: Option<Announcement>, ok: bool) {
        let slot = self.writes.entry(path.clone()).or_default();
        slot.in_flight = false;
        match (ok, announce) {
            (true, Some(a)) => self.events.emit(&Event::IndexAvailable {
                stream_type: a.stream_type,
                resolution: a.resolution,
                index_file: a.index_file,
                start_time: a.start_time,
            }),
            (false, Some(a)) => slot.carry = Some(a),
            _ => {}
        }
        let slot = self.writes.get_mut(&path).expect("present");
        if let Some((content, announce)) = slot.pending.take() {
            self.submit_write(path, content, announce);
        }
    }

    fn on_preview_done(&mut self, n: u64, body: Bytes, ok: bool) {
        if !ok {
            // Never leave a hole in the sequence: store the previous image under this number.
            let substitute = self.previews_durable.range(..n).next_back().map(|(_, b)| b.clone()).unwrap_or(body);
            tracing::error!(n, "preview could not be stored; substituting the previous image");
            let path = self.preview_path(&format!("{n}.jpg"));
            let b = substitute.clone();
            self.spawn_upload(path, substitute, move |ok| Done::Preview { n, body: b, ok });
            return;
        }
        self.previews_durable.insert(n, body);
        let before = self.preview_count;
        while self.previews_durable.contains_key(&self.preview_count) {
            self.preview_count += 1;
        }
        // Keep only the newest image for substitution.
        let keep_from = self.preview_count.saturating_sub(1);
        self.previews_durable = self.previews_durable.split_off(&keep_from);
        if self.preview_count > before {
            self.events.emit(&Event::PreviewsDurable { count: self.preview_count });
            let spec = self.settings.previews.expect("previews enabled");
            let path = self.preview_path("index.json");
            let content = crate::hls::preview::index_json(self.preview_count);
            let announce = (!self.preview_announced).then(|| Announcement {
                stream_type: StreamType::ImgPreview,
                resolution: spec.label(),
                index_file: path.clone(),
                start_time: None,
            });
            self.preview_announced = true;
            self.submit_write(path, content, announce);
        }
    }

    fn spawn_upload(&mut self, path: String, body: Bytes, done: impl FnOnce(bool) -> Done + Send + 'static) {
        let storage = self.storage.clone();
        let limiter = self.limiter.clone();
        let policy = self.settings.retry;
        self.tasks.spawn(
            async move {
                let _permit = limiter.acquire_owned().await.expect("semaphore never closed");
                let ok = match StoragePath::new(path.clone()) {
                    Ok(p) => match put_with_retry(storage.as_ref(), &p, body, &policy, None).await {
                        Ok(()) => true,
                        Err(e) => {
                            tracing::error!(%path, "storage write failed: {e}");
                            false
                        }
                    },
                    Err(e) => {
                        tracing::error!(%path, "refusing to write: {e}");
                        false
                    }
                };
                done(ok)
            }
            .in_current_span(),
        );
    }

    fn spawn_delete(&mut self, path: String) {
        let storage = self.storage.clone();
        self.tasks.spawn(
            async move {
                if let Ok(p) = StoragePath::new(path.clone()) {
                    if let Err(e) = storage.delete(&p).await {
                        tracing::warn!(%path, "delete failed: {e}");
                    }
                }
                Done::Delete
            }
            .in_current_span(),
        );
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
        }
    }

    fn segment_path(&self, rung: usize, n: u64) -> String {
        crate::hls::segment_path(&self.settings.channel, &self.settings.stream_id, &self.ladder[rung].label, n)
    }

    fn preview_path(&self, file: &str) -> String {
        let label = self.settings.previews.map(|p| p.label()).unwrap_or_default();
        crate::hls::preview::preview_path(&self.settings.channel, &self.settings.stream_id, &label, file)
    }
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

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(codecs: &str) -> StreamConfig {
        let desc = |label: &str| RenditionDesc {
            label: label.into(),
            encoded_width: 640,
            encoded_height: 360,
            frame_rate: Q::from_integer(30),
            codecs: codecs.into(),
            max_kbps: None,
        };
        StreamConfig {
            channel: "c".into(),
            stream_id: "s".into(),
            renditions: vec![desc("a"), desc("b")],
            hls_time: 3,
            live_size: 5,
            vod_max_size: 100,
            record: false,
            audio_kbps: 0,
            master: true,
        }
    }

    fn codecs(list: &[&str]) -> Vec<String> {
        list.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn a_track_change_only_when_every_rendition_reports_different_known_codecs() {
        let video = config("avc1.64001e");
        assert_eq!(track_change(&video, &codecs(&["avc1.64001e", "avc1.64001e"]), 128), None);
        assert_eq!(track_change(&video, &codecs(&["avc1.64001e,mp4a.40.2", ""]), 128), None, "one is unknown");
        let both = codecs(&["avc1.64001e,mp4a.40.2", "avc1.64001e,mp4a.40.2"]);
        assert_eq!(track_change(&video, &both, 128), Some(TrackChange { codecs: both.clone(), audio_kbps: 128 }));
        // The other way (a restarted run whose source lost its audio) drops the audio rate.
        let with_audio = config("avc1.64001e,mp4a.40.2");
        let back = codecs(&["avc1.64001e", "avc1.64001e"]);
        assert_eq!(track_change(&with_audio, &back, 128), Some(TrackChange { codecs: back, audio_kbps: 0 }));
    }
}
