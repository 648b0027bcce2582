//! What a restarted pipeline inherits from the runs before it (output-layout §6, "Restart"):
//! the fixed ladder, the playlist state, and the next segment and preview numbers.
//!
//! The supervisor never reads storage to learn this: it replays the child's own events into a
//! [`Mirror`] (the publication state is deterministic, so replaying the same groups gives the
//! same playlists byte for byte) and passes [`Mirror::resume`] to the next child inside its
//! [`crate::child_protocol::ChildJob`].

use crate::child_protocol::{Event, Resume};
use crate::hls::state::StreamState;
use crate::ladder::Rendition;

/// The supervisor's copy of one job's publication progress, fed with the child's events.
#[derive(Debug, Default)]
pub struct Mirror {
    ladder: Option<Vec<Rendition>>,
    state: Option<StreamState>,
    next_segment: u64,
    next_preview: u64,
    timeline_end: crate::pipeline::clock::Q,
}

impl Mirror {
    pub fn on_event(&mut self, event: &Event) {
        match event {
            // A restarted run reports the ladder it was given; the first one fixes it.
            Event::Started { renditions, .. } => {
                self.ladder.get_or_insert_with(|| renditions.clone());
            }
            Event::Stream { config } => {
                self.state.get_or_insert_with(|| StreamState::new(config.clone()));
            }
            Event::SegmentCut { n } => self.next_segment = self.next_segment.max(n + 1),
            Event::Segment { group, timeline_end, .. } => {
                self.next_segment = self.next_segment.max(group.n + 1);
                if let Some(end) = timeline_end {
                    self.timeline_end = self.timeline_end.max(*end);
                }
                if let Some(state) = self.state.as_mut() {
                    // The child published exactly this group on exactly this state, so an error
                    // here means the copies diverged: the next run would write wrong playlists.
                    if let Err(e) = state.publish(group) {
                        tracing::error!(n = group.n, "supervisor's playlist copy diverged: {e}");
                    }
                }
            }
            Event::SegmentSkipped { n, .. } => {
                self.next_segment = self.next_segment.max(n + 1);
                if let Some(state) = self.state.as_mut() {
                    state.mark_discontinuity_next();
                }
            }
            Event::RenditionShed { rung, .. } => {
                if let Some(state) = self.state.as_mut() {
                    // The writes were the child's to make; the copy only records the shed.
                    let _ = state.shed(*rung);
                }
            }
            Event::PreviewsDurable { count } => self.next_preview = self.next_preview.max(*count),
            Event::IndexAvailable { .. }
            | Event::Progress { .. }
            | Event::Alive { .. }
            | Event::Stats { .. }
            | Event::Finishing { .. }
            | Event::Closed { .. } => {}
        }
    }

    /// Above every segment number any run has cut.
    pub fn next_segment(&self) -> u64 {
        self.next_segment
    }

    /// Durable preview images so far.
    pub fn next_preview(&self) -> u64 {
        self.next_preview
    }

    /// The ladder's labels, once a run opened the source.
    pub fn labels(&self) -> Vec<String> {
        self.ladder.iter().flatten().map(|r| r.label.clone()).collect()
    }

    /// The published state, once a group was published.
    pub fn state(&self) -> Option<&StreamState> {
        self.state.as_ref()
    }

    /// `HLS_LIVE_PLAYLIST_SIZE` of the stream, once a group was published.
    pub fn live_size(&self) -> Option<u32> {
        self.state.as_ref().map(|s| s.config().live_size)
    }

    /// Whether the stream writes DASH manifests (`HLS_DASH`), once a group was published.
    pub fn dash(&self) -> bool {
        self.state.as_ref().is_some_and(|s| s.config().dash)
    }

    /// The hand-over for the next run, or `None` while no run has opened the source (the next
    /// run then fits the ladder afresh). Like the child's publisher, the copy marks the seam:
    /// the next published group starts a new timeline.
    pub fn resume(&mut self) -> Option<Resume> {
        let ladder = self.ladder.clone()?;
        if let Some(state) = self.state.as_mut() {
            state.mark_discontinuity_next();
        }
        Some(Resume {
            ladder,
            state: self.state.clone(),
            next_segment: self.next_segment,
            next_preview: self.next_preview,
            timeline_end: self.timeline_end,
        })
    }
}

#[cfg(test)]
mod tests {
    use num_rational::Ratio;

    use super::*;
    use crate::hls::state::{GroupRecord, Publication, StreamConfig};
    use crate::test_fixtures as fixtures;

    fn rendition() -> Rendition {
        fixtures::rendition("640x360-30", 640, 360)
    }

    fn config() -> StreamConfig {
        fixtures::stream_config(
            "0000018f4a2b3c4d00000007a1b2c3d4",
            fixtures::rendition_desc(&rendition(), "avc1.64001e,mp4a.40.2"),
        )
    }

    fn group(n: u64) -> GroupRecord {
        fixtures::group(n, Ratio::new(1, 1))
    }

    fn started() -> Event {
        Event::Started {
            channel: "c1".into(),
            stream_id: "x".into(),
            source: "640x360 @ 30".into(),
            audio: true,
            renditions: vec![rendition()],
        }
    }

    fn texts(p: &Publication) -> Vec<(String, String)> {
        p.writes.iter().map(|w| (w.path.clone(), w.content.clone())).collect()
    }

    #[test]
    fn nothing_to_resume_before_the_source_opened() {
        let mut mirror = Mirror::default();
        mirror.on_event(&Event::Alive { input_idle_seconds: 3.0 });
        assert_eq!(mirror.resume(), None);
    }

    #[test]
    fn replayed_events_give_the_childs_exact_playlists_and_numbers() {
        // What the child's publisher does...
        let mut child = StreamState::new(config());
        let mut mirror = Mirror::default();
        mirror.on_event(&started());
        mirror.on_event(&Event::Stream { config: config() });
        for n in 0..3 {
            mirror.on_event(&Event::SegmentCut { n });
            child.publish(&group(n)).unwrap();
            mirror.on_event(&Event::Segment { group: group(n), publish_seconds: None, timeline_end: None });
        }
        // ...group 3 was cut in one rendition when the child died, group 4 never.
        mirror.on_event(&Event::SegmentCut { n: 3 });
        mirror.on_event(&Event::PreviewsDurable { count: 2 });

        let resume = mirror.resume().unwrap();
        assert_eq!(resume.ladder, vec![rendition()]);
        assert_eq!(resume.next_segment, 4, "3 was cut: never reuse its number");
        assert_eq!(resume.next_preview, 2);

        // The next run continues the very same playlists, with a discontinuity at the seam.
        let mut next = resume.state.clone().unwrap();
        child.mark_discontinuity_next();
        assert_eq!(texts(&next.publish(&group(4)).unwrap()), texts(&child.publish(&group(4)).unwrap()));
        let live = next.finish().writes.into_iter().find(|w| w.path.ends_with("live.m3u8")).unwrap();
        assert!(live.content.contains("#EXT-X-DISCONTINUITY\n"), "{}", live.content);
        assert!(live.content.contains("2.ts\n#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME"), "{}", live.content);
    }

    #[test]
    fn the_timeline_continues_from_the_latest_published_group() {
        let mut mirror = Mirror::default();
        mirror.on_event(&started());
        mirror.on_event(&Event::Stream { config: config() });
        for (n, end) in [(0, 1), (1, 2)] {
            let end = Some(Ratio::new(end, 1));
            mirror.on_event(&Event::Segment { group: group(n), publish_seconds: None, timeline_end: end });
        }
        // Cut but never published (the child died): not on the timeline of the recording.
        mirror.on_event(&Event::SegmentCut { n: 2 });
        assert_eq!(mirror.resume().unwrap().timeline_end, Ratio::new(2, 1));
    }

    #[test]
    fn a_skipped_group_takes_its_number_and_marks_a_discontinuity() {
        let mut mirror = Mirror::default();
        mirror.on_event(&started());
        mirror.on_event(&Event::Stream { config: config() });
        mirror.on_event(&Event::Segment { group: group(0), publish_seconds: None, timeline_end: None });
        mirror.on_event(&Event::SegmentSkipped { n: 1, reason: "storage".into() });
        let mut state = mirror.resume().unwrap().state.unwrap();
        let p = state.publish(&group(2)).unwrap();
        let live = p.writes.iter().find(|w| w.path.ends_with("live.m3u8")).unwrap();
        assert!(live.content.contains("#EXT-X-DISCONTINUITY\n"), "{}", live.content);
        assert_eq!(mirror.resume().unwrap().next_segment, 2);
    }

    #[test]
    fn a_track_change_reaches_the_mirror_through_the_event_line() {
        let mut mirror = Mirror::default();
        mirror.on_event(&started());
        mirror.on_event(&Event::Stream { config: config() });
        mirror.on_event(&Event::Segment { group: group(0), publish_seconds: None, timeline_end: None });
        let mut with_change = group(1);
        let codecs = vec!["avc1.64001e".to_string()];
        with_change.tracks = Some(crate::hls::state::TrackChange { codecs: codecs.clone(), audio_kbps: 0 });
        // The child writes the event as JSON; the supervisor reads it back.
        let line =
            serde_json::to_string(&Event::Segment { group: with_change, publish_seconds: None, timeline_end: None })
                .unwrap();
        mirror.on_event(&serde_json::from_str::<Event>(&line).unwrap());
        let state = mirror.resume().unwrap().state.unwrap();
        assert_eq!(state.config().renditions[0].codecs, codecs[0]);
        assert_eq!(state.config().audio_kbps, 0);
        // Groups without a change keep the old event shape.
        let plain =
            serde_json::to_string(&Event::Segment { group: group(2), publish_seconds: None, timeline_end: None })
                .unwrap();
        assert!(!plain.contains("tracks"), "{plain}");
    }
}
