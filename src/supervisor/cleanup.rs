//! End-of-stream cleanup (output-layout §10, `HLS_CLEANUP_AFTER_END=YES`): what a finished
//! Record False stream left in storage, deleted `HLS_CLEANUP_DELAY_SECONDS` after its
//! STREAM-CLOSED. Sans IO: the queue says what is due; the runner deletes.
//!
//! The files are computed, not listed (HTTP and object storage have no listing here): the
//! live playlists, the segments that can still exist (the newest 2L numbers, plus any cut
//! but never published, below the mirror's next number), the master, the previews and their
//! index. Deleting a file that is already gone counts as success on every backend.

use std::collections::VecDeque;
use std::time::Instant;

use super::handover::Mirror;
use crate::child_protocol::JobSpec;

/// Numbers below the newest 2L that may still exist (a delete during the stream that
/// failed, or segments cut at the very end): a few more are tried.
const SEGMENT_SLACK: u64 = 4;

/// One stream's files, and when they may go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cleanup {
    pub due: Instant,
    pub channel: String,
    pub stream_id: String,
    pub paths: Vec<String>,
}

/// The files a finished Record False stream left; none for a recording (kept for good).
pub fn leftovers(spec: &JobSpec, mirror: &Mirror) -> Vec<String> {
    if spec.record {
        return Vec::new();
    }
    let (ch, id) = (&spec.channel, &spec.stream_id);
    let mut paths = Vec::new();
    let next = mirror.next_segment();
    let keep = 2 * u64::from(mirror.live_size().unwrap_or(1).max(1)) + SEGMENT_SLACK;
    let state = mirror.state();
    let format = state.map_or(crate::hls::SegmentFormat::Ts, |s| s.config().format);
    let mut labels = mirror.labels();
    if state.is_some_and(|s| s.has_audio_rendition()) {
        labels.push(crate::hls::media::AUDIO_LABEL.to_string());
    }
    for label in labels {
        for n in next.saturating_sub(keep)..next {
            paths.push(crate::hls::media_segment_path(format, ch, id, &label, n));
        }
        paths.push(crate::hls::live_path(ch, id, &label));
    }
    paths.extend(state.into_iter().flat_map(|s| s.init_paths().cloned()));
    paths.push(crate::hls::master_path(ch, id));
    if mirror.dash() {
        paths.push(crate::hls::dash::live_mpd_path(ch, id));
    }
    if let Some(previews) = spec.previews {
        let label = previews.label();
        // A preview or two may have been stored after the last count the child reported.
        for n in 0..mirror.next_preview() + 2 {
            paths.push(crate::hls::preview::preview_path(ch, id, &label, &format!("{n}.jpg")));
        }
        paths.push(crate::hls::preview::preview_path(ch, id, &label, "index.json"));
        paths.push(crate::hls::preview::preview_path(ch, id, &label, crate::hls::preview::THUMBNAILS_VTT));
    }
    paths
}

/// Cleanups waiting for their time, in due order (the delay is the same for every stream).
#[derive(Debug, Default)]
pub struct CleanupQueue {
    pending: VecDeque<Cleanup>,
}

impl CleanupQueue {
    pub fn schedule(&mut self, cleanup: Cleanup) {
        if !cleanup.paths.is_empty() {
            self.pending.push_back(cleanup);
        }
    }

    pub fn next_due(&self) -> Option<Instant> {
        self.pending.front().map(|c| c.due)
    }

    /// The cleanups due at `now`.
    pub fn take_due(&mut self, now: Instant) -> Vec<Cleanup> {
        let due = self.pending.iter().take_while(|c| c.due <= now).count();
        self.pending.drain(..due).collect()
    }

    /// Shutdown: the cleanups due by `deadline` (run them), and the rest (forgotten: a
    /// worker restart forgets pending cleanups, §10).
    pub fn split_at(&mut self, deadline: Instant) -> (Vec<Cleanup>, Vec<Cleanup>) {
        let due = self.take_due(deadline);
        (due, self.pending.drain(..).collect())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use num_rational::Ratio;

    use super::*;
    use crate::child_protocol::{Event, Previews, SourceKind};
    use crate::hls::state::{GroupRecord, RenditionSegment, StreamConfig};
    use crate::test_fixtures as fixtures;

    fn spec(record: bool) -> JobSpec {
        JobSpec {
            channel: "c1".into(),
            stream_id: "s1".into(),
            source: SourceKind::Rtmp,
            source_uri: "rtmp://127.0.0.1/c1/k".into(),
            resolutions: "640x360-30".into(),
            record,
            previews: Some(Previews { width: 160, height: 90, interval: 2 }),
        }
    }

    fn mirror_after(groups: u64, previews: u64) -> Mirror {
        let rendition = fixtures::rendition("640x360-30", 640, 360);
        let desc = fixtures::rendition_desc(&rendition, "avc1.64001e");
        let config = StreamConfig {
            live_size: 2,
            vod_max_size: 100,
            record: false,
            audio_kbps: 0,
            ..fixtures::stream_config("s1", desc)
        };
        let mut mirror = Mirror::default();
        let started = Event::Started {
            channel: "c1".into(),
            stream_id: "s1".into(),
            source: "x".into(),
            audio: false,
            renditions: vec![rendition],
        };
        mirror.on_event(&started);
        mirror.on_event(&Event::Stream { config });
        for n in 0..groups {
            let group = GroupRecord {
                n,
                discontinuity: false,
                program_date_time_ms: 0,
                renditions: vec![RenditionSegment { duration: Ratio::new(1, 1), bytes: 10, media: None }],
                tracks: None,
                audio: None,
                captions: None,
            };
            mirror.on_event(&Event::Segment { group, publish_seconds: None, timeline_end: None });
        }
        mirror.on_event(&Event::PreviewsDurable { count: previews });
        mirror
    }

    #[test]
    fn a_live_streams_leftovers_are_its_playlists_recent_segments_master_and_previews() {
        let paths = leftovers(&spec(false), &mirror_after(20, 3));
        let segments: Vec<&String> = paths.iter().filter(|p| p.ends_with(".ts")).collect();
        // The newest 2L = 4 stay during the stream; 4 more are tried.
        assert_eq!(segments.first().map(|s| s.as_str()), Some("hls/c1/s1/640x360-30/12.ts"));
        assert_eq!(segments.last().map(|s| s.as_str()), Some("hls/c1/s1/640x360-30/19.ts"));
        assert_eq!(segments.len(), 8);
        for file in [
            "hls/c1/s1/640x360-30/live.m3u8",
            "hls/c1/s1/master.m3u8",
            "img-preview/c1/s1/160x90-2/0.jpg",
            "img-preview/c1/s1/160x90-2/4.jpg",
            "img-preview/c1/s1/160x90-2/index.json",
            "img-preview/c1/s1/160x90-2/thumbnails.vtt",
        ] {
            assert!(paths.iter().any(|p| p == file), "{file} missing from {paths:?}");
        }
        assert!(paths.iter().all(|p| p.starts_with("hls/c1/s1/") || p.starts_with("img-preview/c1/s1/")));
    }

    #[test]
    fn a_dash_streams_leftovers_include_its_live_manifest() {
        let plain = leftovers(&spec(false), &mirror_after(3, 0));
        assert!(!plain.iter().any(|p| p.ends_with(".mpd")), "{plain:?}");
        let rendition = fixtures::rendition("640x360-30", 640, 360);
        let config = StreamConfig {
            dash: true,
            ..fixtures::stream_config("s1", fixtures::rendition_desc(&rendition, "avc1.64001e"))
        };
        let mut mirror = Mirror::default();
        mirror.on_event(&Event::Stream { config });
        assert!(leftovers(&spec(false), &mirror).contains(&"hls/c1/s1/master.mpd".to_string()));
    }

    #[test]
    fn a_recording_leaves_nothing_to_clean_and_a_short_stream_starts_at_zero() {
        assert!(leftovers(&spec(true), &mirror_after(20, 3)).is_empty());
        let short = leftovers(&spec(false), &mirror_after(2, 0));
        assert!(short.contains(&"hls/c1/s1/640x360-30/0.ts".to_string()), "{short:?}");
    }

    #[test]
    fn the_queue_hands_out_what_is_due_and_splits_at_shutdown() {
        let t0 = Instant::now();
        let cleanup = |s: u64| Cleanup {
            due: t0 + Duration::from_secs(s),
            channel: "c".into(),
            stream_id: format!("s{s}"),
            paths: vec![format!("hls/c/s{s}/master.m3u8")],
        };
        let mut queue = CleanupQueue::default();
        for s in [1, 5, 9] {
            queue.schedule(cleanup(s));
        }
        queue.schedule(Cleanup { paths: vec![], ..cleanup(2) });
        assert_eq!(queue.next_due(), Some(t0 + Duration::from_secs(1)));
        assert!(queue.take_due(t0).is_empty());
        assert_eq!(queue.take_due(t0 + Duration::from_secs(1)), vec![cleanup(1)]);
        let (run, forgotten) = queue.split_at(t0 + Duration::from_secs(6));
        assert_eq!((run, forgotten), (vec![cleanup(5)], vec![cleanup(9)]));
        assert_eq!(queue.next_due(), None);
    }
}
