//! The job document turned into what one run executes: the pipeline's and the publisher's
//! configuration and the storage backend. This is the only conversion: the document was built
//! from validated settings (by the worker, or by [`super::args`] for a run by hand).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::child_protocol::ChildJob;
use crate::pipeline::clock::Q;
use crate::pipeline::{LadderChoice, PipelineConfig};
use crate::publisher::PublishSettings;
use crate::storage::{Counted, RetryPolicy};

/// A restarted run starts this long after the last published group ended: that group's
/// last audio frame may reach up to one AAC frame (1024 samples, 23.2 ms at 44.1 kHz) past
/// its video, and audio timestamps must not go back at the seam either.
const SEAM_MARGIN: Q = Q::new_raw(1, 40);

/// The AAC rate when neither the settings nor a ladder profile name one (the Go worker's).
const DEFAULT_AUDIO_KBPS: u32 = 128;

/// Everything one run needs.
pub struct Job {
    pub pipeline: PipelineConfig,
    pub publish: PublishSettings,
    /// The backend, counting its requests for the `stats` event.
    pub storage: Arc<Counted>,
    pub queue_bytes: usize,
    /// How long a finished pipeline's last uploads may take before they are cancelled.
    pub drain: Duration,
}

impl Job {
    /// Fails only when the storage backend cannot be created from its (validated) settings.
    pub fn from_document(doc: ChildJob) -> anyhow::Result<Job> {
        let s = doc.settings;
        let storage = doc.storage.build().context("configuring storage")?;
        let storage = Counted::new(storage, doc.storage.backend());
        let audio_kbps = match (&s.audio_kbps, &doc.ladder) {
            (Some(kbps), _) => *kbps,
            (None, LadderChoice::Profile(p)) => p.audio_kbps(),
            (None, _) => DEFAULT_AUDIO_KBPS,
        };
        let audio = crate::pipeline::audio::AudioSettings { codec: s.audio_codec.clone(), bitrate_kbps: audio_kbps };
        let resume = doc.resume;
        let first_segment = resume.as_ref().map_or(0, |r| r.next_segment);
        let first_preview = resume.as_ref().map_or(0, |r| r.next_preview);
        let timeline_offset = resume.as_ref().map_or(Q::from_integer(0), |r| r.timeline_end + SEAM_MARGIN);
        // A restarted run keeps its first run's ladder: labels and sizes never change.
        let ladder = match &resume {
            Some(r) => LadderChoice::Fixed(r.ladder.clone()),
            None => doc.ladder,
        };
        let live = doc.source.is_live();
        let pipeline = PipelineConfig {
            source: doc.source,
            ladder,
            hls_time: s.hls_time,
            video: s.video.clone(),
            audio,
            original_mode: s.original_mode,
            previews: doc.previews,
            source_timeout: s.source_timeout,
            max_media: doc.max_media,
            // The limit counts the stream's segments, earlier runs included (output-layout §10).
            max_segments: Some(s.fragment_limit.saturating_sub(first_segment)),
            first_segment,
            first_preview,
            timeline_offset,
            stats: crate::pipeline::stats::PipelineStats::emulating(s.emulated_load),
            // Only a live network source has an edge to fall behind; a file is read at
            // the pipeline's pace.
            live,
            drop_behind: s.drop_behind,
            realtime: doc.realtime,
            format: s.segment_format,
            part_target: s.part_target(),
        };
        let publish = PublishSettings {
            channel: doc.channel,
            stream_id: doc.stream_id,
            hls_time: s.hls_time,
            live_size: s.live_size,
            vod_max_size: s.vod_max_size,
            record: doc.record,
            master: s.master,
            audio_kbps,
            previews: doc.previews,
            retry: RetryPolicy { deadline: s.storage_retry, ..RetryPolicy::default() },
            first_segment,
            first_preview,
            resume: resume.and_then(|r| r.state),
            cdn: doc.cdn.map(Arc::new),
            timeline_offset,
            format: s.segment_format,
            dash: s.dash,
            part_target: s.part_target(),
        };
        Ok(Job { pipeline, publish, storage, queue_bytes: s.upload_queue_bytes, drain: s.storage_retry })
    }
}
