//! What a child reports on stdout: one [`Event`] per line, in the order things happened.

use serde::{Deserialize, Serialize};

pub use crate::control::message::ErrorCode;
use crate::hls::state::{GroupRecord, StreamConfig, StreamType};
use crate::ladder::Rendition;

/// How a run ended (`reason` of `finishing` and `closed`). Every kind but [`EndKind::Failed`]
/// is an end a restart cannot change: the source ended or went silent, a stop was asked for,
/// a limit was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EndKind {
    EndOfStream,
    /// No media for the source timeout while running: the end of the stream (spec §9.2).
    SourceStalled,
    Stopped,
    DurationReached,
    FragmentLimit,
    /// The pipeline failed (the source could not be opened, libav failed, a thread panicked).
    Failed,
}

/// The window a `stats` event's speed, busy share and CPU are measured over: a decision taken
/// on them sees the last this-many seconds.
pub const STATS_WINDOW: std::time::Duration = std::time::Duration::from_secs(10);

/// One rendition in a `stats` event. Frame counts are since the previous `stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenditionStats {
    pub rendition: String,
    /// Media seconds encoded per wall second over the last 10 s (1 keeps up with a live source).
    pub speed: f64,
    /// Share of the same window the rendition's thread was working (scaling, encoding,
    /// muxing, or held by a full queue after it) rather than waiting for input: near 1 with a
    /// speed below 1 means it cannot keep up; a speed below 1 at low busy means the source is
    /// slow, not the machine.
    #[serde(default)]
    pub busy: f64,
    /// CPU the rendition's thread used over the same window, in cores (its scaling, encoding
    /// and muxing): what shedding it gives back. 0 from a child that does not measure it.
    #[serde(default)]
    pub cpu: f64,
    /// From the newest encoded frame's source packet being read to its leaving the encoder.
    pub lag_seconds: f64,
    pub encoded: u64,
    pub dropped: u64,
    pub duplicated: u64,
}

/// Storage requests of one kind since the previous `stats` (each attempt counts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageCount {
    /// `filesystem`, `http`, `s3` or `azure`.
    pub backend: String,
    /// `put` or `delete`.
    pub op: String,
    /// `ok` or `error`.
    pub result: String,
    pub count: u64,
}

impl EndKind {
    /// Whether the supervisor may restart the pipeline after this end (spec §9.3).
    pub fn is_restartable(self) -> bool {
        self == EndKind::Failed
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The source is open and the ladder is chosen (a restarted run keeps the first run's).
    Started { channel: String, stream_id: String, source: String, audio: bool, renditions: Vec<Rendition> },
    /// The publication state was created (before the first `segment`): with the `segment` and
    /// `segment_skipped` events that follow, a supervisor can rebuild the stream's exact
    /// playlist state and hand it to a restarted run.
    Stream { config: StreamConfig },
    /// The pipeline cut segment `n` of some rendition: numbers up to `n` are taken, published
    /// or not, and a restarted run must start above them.
    SegmentCut { n: u64 },
    /// Group `n` is durable in every rendition and is now listed in the playlists.
    /// `publish_seconds`: from the group's last segment leaving the encoders to this moment.
    Segment {
        group: GroupRecord,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        publish_seconds: Option<f64>,
        /// Where the group ends on the stream's media timeline (seconds since the first run's
        /// first frame): a restarted run continues its timestamps from the latest.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeline_end: Option<crate::pipeline::clock::Q>,
    },
    /// Rendition `rendition` (ladder index `rung`) was shed under overload before group `n`:
    /// its playlists got ENDLIST, the masters no longer list it, later groups ignore it.
    RenditionShed { rung: usize, rendition: String, n: u64 },
    /// Group `n` could not be stored and was dropped from every rendition.
    SegmentSkipped { n: u64, reason: String },
    /// An index file is durable and may be announced (STREAM-AVAILABLE).
    IndexAvailable { stream_type: StreamType, resolution: String, index_file: String, start_time: Option<String> },
    /// Media time transcoded so far in this run, and speed relative to real time.
    Progress { media_seconds: f64, frames: u64, speed: f64 },
    /// Every two seconds while the pipeline runs: how each rendition keeps up, the bytes
    /// waiting for storage, and the storage requests made since the previous `stats` (the
    /// worker's metrics come from these).
    Stats {
        renditions: Vec<RenditionStats>,
        upload_queue_bytes: u64,
        storage: Vec<StorageCount>,
        /// A live source: how late its newest packet was read (wall time since the first
        /// packet minus media time since it). Grows when any part of the pipeline, the
        /// decoder included, cannot keep up; stays near 0 with a slow publisher.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        input_behind_seconds: Option<f64>,
        /// A live source: share of the window the reader waited for the source's next packet.
        /// Near 0 while the pipeline is behind (its input is queued up); high while it keeps
        /// up, and with a slow publisher whatever the pipeline does.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        input_wait: Option<f64>,
    },
    /// Images `0.jpg` … `count-1.jpg` are durable: a restarted run numbers previews from `count`.
    PreviewsDurable { count: u64 },
    /// Sent every second whatever the pipeline does: the process is alive, and its source
    /// delivered data `input_idle_seconds` ago. Lets the supervisor tell a stalled pipeline
    /// (input arrives, no progress) from a silent source (the child ends that by itself).
    Alive { input_idle_seconds: f64 },
    /// The pipeline is done and the last writes begin (coordinator-protocol §9.1.4: the
    /// STREAM-CLOSED deadline runs from here). The same fields as `closed`, which follows
    /// once the final playlists are durable.
    Finishing { reason: EndKind, error_code: Option<ErrorCode>, message: Option<String> },
    /// The stream ended; final playlists are durable. `error_code` is absent on a clean end.
    Closed { reason: EndKind, error_code: Option<ErrorCode>, message: Option<String> },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialize_as_tagged_json_lines() {
        let e = Event::IndexAvailable {
            stream_type: StreamType::HlsVod,
            resolution: "1280x720-30".into(),
            index_file: "hls/c1/abc/1280x720-30/vod-1.m3u8".into(),
            start_time: Some("6".into()),
        };
        let line = e.to_line();
        assert_eq!(
            line,
            r#"{"event":"index_available","stream_type":"HLS-VOD","resolution":"1280x720-30","index_file":"hls/c1/abc/1280x720-30/vod-1.m3u8","start_time":"6"}"#
        );
        assert_eq!(serde_json::from_str::<Event>(&line).unwrap(), e);
        let closed =
            Event::Closed { reason: EndKind::FragmentLimit, error_code: Some(ErrorCode::FragmentLimit), message: None };
        assert!(closed.to_line().contains(r#""error_code":"FRAGMENT_LIMIT""#));
        assert_eq!(serde_json::from_str::<Event>(&closed.to_line()).unwrap(), closed);
    }
}
