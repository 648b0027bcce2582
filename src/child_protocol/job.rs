//! What a `transcode --job` child is started with: one JSON line on its stdin.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::hls::state::StreamState;
use crate::ladder::Rendition;

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

/// The job as a `transcode --job` child reads it: one JSON document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildJob {
    pub spec: JobSpec,
    /// Absent for the first run of a job.
    pub resume: Option<Resume>,
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
