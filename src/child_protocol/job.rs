//! What a `transcode --job` child is started with: one JSON line on its stdin, the
//! [`ChildJob`] document.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cdn::CdnConfig;
use crate::hls::state::StreamState;
use crate::ladder::{Rendition, RequestItem};
use crate::pipeline::passthrough::OriginalMode;
use crate::pipeline::source::{Source, SourceTls};
use crate::pipeline::video::VideoSettings;
use crate::pipeline::LadderChoice;
use crate::storage::StorageConfig;

/// How the source is pulled (`Stream-Source-Type`, coordinator-protocol §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SourceKind {
    Rtmp,
    Ws,
}

impl SourceKind {
    pub fn parse(text: &str) -> Option<SourceKind> {
        if text.eq_ignore_ascii_case("RTMP") {
            Some(SourceKind::Rtmp)
        } else if text.eq_ignore_ascii_case("WS") {
            Some(SourceKind::Ws)
        } else {
            None
        }
    }

    pub fn schemes(self) -> &'static [&'static str] {
        match self {
            SourceKind::Rtmp => &["rtmp", "rtmps"],
            SourceKind::Ws => &["ws", "wss"],
        }
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SourceKind::Rtmp => "RTMP",
            SourceKind::Ws => "WS",
        })
    }
}

/// `Previews:{W}x{H},{D}`: the same type the pipeline takes previews with.
pub use crate::pipeline::preview::PreviewSpec as Previews;

/// A validated job: what the child process is started with.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpec {
    /// Matches `^[A-Za-z0-9_-]{1,128}$`: safe as a path segment.
    pub channel: String,
    /// Matches `^[A-Za-z0-9_-]{1,128}$`: safe as a path segment.
    pub stream_id: String,
    pub source: SourceKind,
    /// Holds the stream key: never log it, use `crate::redact::redact_url`.
    pub source_uri: String,
    /// Verbatim; the transcoder parses it and drops invalid items (output-layout §2–3).
    pub resolutions: String,
    pub record: bool,
    pub previews: Option<Previews>,
}

/// Hand-written so that `{:?}` never prints the stream key.
impl fmt::Debug for JobSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobSpec")
            .field("channel", &self.channel)
            .field("stream_id", &self.stream_id)
            .field("source", &self.source)
            .field("source_uri", &crate::redact::redact_url(&self.source_uri))
            .field("resolutions", &self.resolutions)
            .field("record", &self.record)
            .field("previews", &self.previews)
            .finish()
    }
}

/// The one document a transcode runs: built once from validated settings, by the worker for
/// each run of a job ([`ChildJob::for_run`]) or by `transcode` from its arguments, and sent to
/// the child as one JSON line on stdin (credentials too: never on a command line). The child
/// validates nothing again and reads no environment variable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChildJob {
    /// Matches `^[A-Za-z0-9_-]{1,128}$`: safe as a path segment.
    pub channel: String,
    /// Matches `^[A-Za-z0-9_-]{1,128}$`: safe as a path segment.
    pub stream_id: String,
    pub source: Source,
    /// The ladder asked for; a restarted run keeps [`Resume::ladder`] instead.
    pub ladder: LadderChoice,
    pub record: bool,
    pub previews: Option<Previews>,
    pub settings: EncodeSettings,
    pub storage: StorageConfig,
    /// The HLS WebSocket CDN push; `None`: off.
    pub cdn: Option<CdnConfig>,
    /// Stop after this much media (`transcode --duration`); `None`: until the source ends.
    pub max_media: Option<Duration>,
    /// Read the source no faster than real time (`transcode --realtime`).
    pub realtime: bool,
    /// Absent for the first run of a job.
    pub resume: Option<Resume>,
}

/// What the worker hands every job: its validated settings, the same for each run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobDefaults {
    pub settings: EncodeSettings,
    pub storage: StorageConfig,
    pub cdn: Option<CdnConfig>,
}

impl ChildJob {
    /// The document of one run of a worker job. `ladder` is the job's `x-resolutions` as the
    /// worker parsed it (coordinator-protocol §4: invalid items dropped; none left is ORIGINAL).
    pub fn for_run(
        spec: &JobSpec,
        ladder: Vec<RequestItem>,
        defaults: &JobDefaults,
        resume: Option<Resume>,
    ) -> ChildJob {
        ChildJob {
            channel: spec.channel.clone(),
            stream_id: spec.stream_id.clone(),
            source: Source::parse(&source_url(spec), &defaults.settings.source_tls),
            ladder: LadderChoice::Items(ladder),
            record: spec.record,
            previews: spec.previews,
            settings: defaults.settings.clone(),
            storage: defaults.storage.clone(),
            cdn: defaults.cdn.clone(),
            max_media: None,
            realtime: false,
            resume,
        }
    }
}

/// Spec §10.2: RTMP is played with `?cache=clear` (the ingest replays its GOP cache, then stops
/// caching; servers that do not know the option ignore it).
fn source_url(spec: &JobSpec) -> String {
    match spec.source {
        SourceKind::Rtmp if !spec.source_uri.contains('?') => format!("{}?cache=clear", spec.source_uri),
        _ => spec.source_uri.clone(),
    }
}

/// [`JobSettings`] validated: what the pipeline and the publisher run with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncodeSettings {
    pub hls_time: u32,
    pub live_size: u32,
    pub vod_max_size: u32,
    pub fragment_limit: u64,
    pub video: VideoSettings,
    pub audio_codec: String,
    /// `None`: the ladder profile's rate (128 kbit/s for a job's `x-resolutions` ladder).
    pub audio_kbps: Option<u32>,
    pub original_mode: OriginalMode,
    /// At least one second.
    pub source_timeout: Duration,
    /// `None`: never drop GOPs to catch up with a live source.
    pub drop_behind: Option<Duration>,
    pub master: bool,
    /// `HLS_SEGMENT_FORMAT` (TS when a document from an older worker has none).
    #[serde(default)]
    pub segment_format: crate::hls::SegmentFormat,
    /// `HLS_DASH` (CMAF only; false when a document from an older worker has none).
    #[serde(default)]
    pub dash: bool,
    /// `HLS_PART_SECONDS`: the LL-HLS part target (CMAF only); `None`: no parts.
    #[serde(default)]
    pub part_seconds: Option<f64>,
    pub storage_retry: Duration,
    /// At least one MiB.
    pub upload_queue_bytes: usize,
    pub source_tls: SourceTls,
    pub ffmpeg_trace: bool,
    /// Testing only: `--test-emulated-load-percent` as cores (see `pipeline::stats`).
    #[serde(default)]
    pub emulated_load: Option<f64>,
}

impl EncodeSettings {
    /// `HLS_PART_SECONDS` as an exact number of seconds (it is kept to the millisecond).
    pub fn part_target(&self) -> Option<crate::pipeline::clock::Q> {
        self.part_seconds.map(|s| crate::pipeline::clock::Q::new((s * 1000.0).round() as i64, 1000))
    }
}

/// The hand-over from the previous runs of a job to the next one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resume {
    /// The first run's ladder: labels and encoded sizes never change within a stream.
    pub ladder: Vec<Rendition>,
    /// Playlist state, when at least one group was published; the next run appends to it.
    pub state: Option<StreamState>,
    /// Above every segment number any run has cut (invariant 3).
    pub next_segment: u64,
    /// Durable preview images so far; the next image gets this number.
    pub next_preview: u64,
    /// Where the stream's media timeline stands: the end of the last published group, in
    /// seconds since the first run's first frame. The next run's timestamps continue from
    /// here, so a recording converts to one file with `ffmpeg -c copy` across the seam.
    #[serde(default)]
    pub timeline_end: crate::pipeline::clock::Q,
}
