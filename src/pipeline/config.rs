//! What one pipeline run is told: [`PipelineConfig`], built by `transcode` from the job
//! document, and the [`LadderChoice`] it fits to the source.

use std::sync::Arc;
use std::time::Duration;

use super::audio::AudioSettings;
use super::clock::Q;
use super::passthrough::OriginalMode;
use super::preview::PreviewSpec;
use super::source::Source;
use super::stats::PipelineStats;
use super::video::VideoSettings;
use crate::ladder::{Profile, Rendition, RequestItem};

/// Which renditions to produce.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum LadderChoice {
    Items(Vec<RequestItem>),
    Profile(Profile),
    /// The ladder of an earlier run of the same stream (restart): kept as is.
    Fixed(Vec<Rendition>),
}

#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub source: Source,
    pub ladder: LadderChoice,
    pub hls_time: u32,
    pub video: VideoSettings,
    pub audio: AudioSettings,
    /// Whether ORIGINAL (and the audio) may carry the source's own packets.
    pub original_mode: OriginalMode,
    pub previews: Option<PreviewSpec>,
    pub source_timeout: Duration,
    /// Stop after this much media time (`--duration`).
    pub max_media: Option<Duration>,
    /// Stop before this run-local segment (fragment limit minus segments already made).
    pub max_segments: Option<u64>,
    /// First segment number of this run (restart: highest ever produced + 1).
    pub first_segment: u64,
    /// First preview number of this run.
    pub first_preview: u64,
    /// Where this run's media time 0 lies on the stream's timeline, seconds: every output
    /// timestamp is shifted by it (0 for a first run).
    pub timeline_offset: Q,
    /// Where the rendition threads count what they do (read by the transcode's reporter).
    pub stats: Arc<PipelineStats>,
    /// Read at the media's own pace (`--realtime`, as `ffmpeg -re`): the reader never runs
    /// ahead of wall time since the first frame.
    pub realtime: bool,
    /// A live source (it sends in real time): how late its packets are read is measured.
    pub live: bool,
    /// A live source read this late drops whole GOPs until it is back at the live edge
    /// (`HLS_DROP_BEHIND_SECONDS`; `None`: never).
    pub drop_behind: Option<Duration>,
    /// `HLS_SEGMENT_FORMAT`: the muxing strategy of every rendition's segmenter.
    pub format: crate::hls::SegmentFormat,
    /// `HLS_PART_SECONDS` (CMAF only): segments are also cut into LL-HLS parts of at most
    /// this many seconds.
    pub part_target: Option<super::clock::Q>,
}
