//! The contract between `hls-ladder worker` and the `hls-ladder transcode --job -` child it
//! runs for each job, typed end to end. Both sides use these types and nothing else, so the
//! two cannot drift apart.
//!
//! - stdin, worker to child: one [`ChildJob`] JSON line (the validated job, and for a restarted
//!   run the [`Resume`] hand-over), then [`ChildCommand`] lines. EOF on stdin (the worker is
//!   gone) finishes the stream like `stop`.
//! - stdout, child to worker: one [`Event`] JSON line per event; `closed` is the last.
//! - stderr: the child's log lines, which the worker forwards and keeps a tail of.
//!
//! # Layout
//! - `job`: [`ChildJob`], [`JobSpec`], [`Resume`].
//! - `event`: [`Event`] and the [`EndKind`] of a run.

mod event;
mod job;

pub use event::{EndKind, ErrorCode, Event, RenditionStats, StorageCount, STATS_WINDOW};
pub use job::{ChildJob, EncodeSettings, JobDefaults, JobSpec, Previews, Resume, SourceKind};

/// A line on the child's stdin after the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChildCommand {
    /// Stop reading the source; flush, publish the last groups, ENDLIST, then `closed`.
    Stop,
    /// Overload: stop encoding this rendition (by label) from its next segment boundary.
    Shed(String),
}

impl ChildCommand {
    /// The line as written, newline included. Plain words, so a person can type them when
    /// running `transcode --job -` by hand.
    pub fn to_line(&self) -> String {
        match self {
            ChildCommand::Stop => "stop\n".into(),
            ChildCommand::Shed(label) => format!("shed {label}\n"),
        }
    }

    /// A line as read; `None` for anything else (the child logs and ignores it).
    pub fn parse(line: &str) -> Option<ChildCommand> {
        match line.trim().split_once(' ') {
            None if line.trim() == "stop" => Some(ChildCommand::Stop),
            Some(("shed", label)) if !label.trim().is_empty() => Some(ChildCommand::Shed(label.trim().to_string())),
            _ => None,
        }
    }
}

impl ChildJob {
    /// One line, newline included: what the worker writes first on the child's stdin.
    pub fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).expect("a job always serializes");
        line.push('\n');
        line
    }

    pub fn from_line(line: &str) -> Result<ChildJob, serde_json::Error> {
        serde_json::from_str(line)
    }
}

impl Event {
    /// One line, without the newline.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("events always serialize")
    }

    pub fn from_line(line: &str) -> Result<Event, serde_json::Error> {
        serde_json::from_str(line)
    }
}

#[cfg(test)]
mod tests {
    use num_rational::Ratio;

    use super::*;
    use crate::hls::state::{GroupRecord, StreamConfig, StreamState, StreamType, TrackChange};
    use crate::ladder::Rendition;
    use crate::test_fixtures as fixtures;

    fn rendition() -> Rendition {
        Rendition { rate: Ratio::new(30000, 1001), max_kbps: Some(800), ..fixtures::rendition("640x360-30", 640, 360) }
    }

    fn config() -> StreamConfig {
        let desc = fixtures::rendition_desc(&rendition(), "avc1.64001e,mp4a.40.2");
        StreamConfig { hls_time: 2, ..fixtures::stream_config("0000018f4a2b3c4d00000007a1b2c3d4", desc) }
    }

    fn group(n: u64) -> GroupRecord {
        GroupRecord {
            discontinuity: n == 1,
            tracks: (n == 1).then(|| TrackChange { codecs: vec!["avc1.64001e".into()], audio_kbps: 0 }),
            ..fixtures::group(n, Ratio::new(2002, 1000))
        }
    }

    fn spec() -> JobSpec {
        JobSpec {
            channel: "c1".into(),
            stream_id: "0000018f4a2b3c4d00000007a1b2c3d4".into(),
            source: SourceKind::Rtmp,
            source_uri: "rtmp://127.0.0.1:1935/c1/key".into(),
            resolutions: "ORIGINAL,640x360-30~800".into(),
            record: true,
            previews: Some(Previews { width: 256, height: 144, interval: 5 }),
        }
    }

    #[test]
    fn a_first_and_a_restarted_job_round_trip_as_one_line() {
        let mut state = StreamState::new(config());
        state.publish(&group(0)).unwrap();
        state.publish(&group(1)).unwrap();
        let timeline_end = Ratio::new(6006, 1000);
        let resume =
            Resume { ladder: vec![rendition()], state: Some(state), next_segment: 3, next_preview: 2, timeline_end };
        for job in [job(None), job(Some(resume))] {
            let line = job.to_line();
            assert!(line.ends_with('\n') && !line.trim_end().contains('\n'), "one line: {line:?}");
            assert_eq!(ChildJob::from_line(&line).unwrap(), job);
        }
    }

    fn job(resume: Option<Resume>) -> ChildJob {
        let ladder = crate::ladder::parse_list(&spec().resolutions).0;
        ChildJob::for_run(&spec(), ladder, &crate::fuzzing::sample_defaults(), resume)
    }

    #[test]
    fn the_job_debug_output_never_shows_the_stream_key_or_a_credential() {
        let shown = format!("{:?}", job(None));
        assert!(!shown.contains("/key"), "{shown}");
        assert!(shown.contains("rtmp://127.0.0.1:1935/c1/***"), "{shown}");
        assert!(!shown.contains("storage-secret") && !shown.contains("token-secret"), "{shown}");
        // The line itself carries them: it is the child's only source of settings.
        let line = job(None).to_line();
        assert!(line.contains("storage-secret") && line.contains("/c1/key?cache=clear"), "{line}");
    }

    #[test]
    fn commands_round_trip_and_anything_else_is_not_one() {
        assert_eq!(ChildCommand::parse(&ChildCommand::Stop.to_line()), Some(ChildCommand::Stop));
        let shed = ChildCommand::Shed("1280x720-30~2000".into());
        assert_eq!(shed.to_line(), "shed 1280x720-30~2000\n");
        assert_eq!(ChildCommand::parse(&shed.to_line()), Some(shed));
        assert_eq!(ChildCommand::parse("shed "), None);
        assert_eq!(ChildCommand::parse("stop now"), None);
        assert_eq!(ChildCommand::parse("  stop \r\n"), Some(ChildCommand::Stop));
        assert_eq!(ChildCommand::parse("STOP"), None);
        assert_eq!(ChildCommand::parse(""), None);
    }

    #[test]
    fn every_event_round_trips_through_its_line() {
        let events = [
            Event::Started {
                channel: "c1".into(),
                stream_id: "s".into(),
                source: "1280x720 @ 29.97".into(),
                audio: true,
                renditions: vec![rendition()],
            },
            Event::Stream { config: config() },
            Event::SegmentCut { n: 7 },
            Event::Segment { group: group(0), publish_seconds: None, timeline_end: None },
            Event::Segment { group: group(1), publish_seconds: None, timeline_end: None },
            Event::SegmentSkipped { n: 8, reason: "storage".into() },
            Event::IndexAvailable {
                stream_type: StreamType::HlsVod,
                resolution: "640x360-30~800".into(),
                index_file: "hls/c1/s/640x360-30~800/vod-1.m3u8".into(),
                start_time: Some("4.004".into()),
            },
            Event::Progress { media_seconds: 12.5, frames: 375, speed: 1.25 },
            Event::Segment { group: group(2), publish_seconds: Some(0.25), timeline_end: Some(Ratio::new(4004, 1000)) },
            Event::Stats {
                renditions: vec![RenditionStats {
                    rendition: "640x360-30~800".into(),
                    speed: 1.0,
                    busy: 0.5,
                    cpu: 0.25,
                    lag_seconds: 0.4,
                    encoded: 60,
                    dropped: 1,
                    duplicated: 2,
                }],
                upload_queue_bytes: 123_456,
                storage: vec![StorageCount { backend: "http".into(), op: "put".into(), result: "ok".into(), count: 9 }],
                input_behind_seconds: Some(0.25),
                input_wait: Some(0.75),
            },
            Event::PreviewsDurable { count: 3 },
            Event::Alive { input_idle_seconds: 0.25 },
            Event::Finishing {
                reason: EndKind::Failed,
                error_code: Some(ErrorCode::PipelineFailed),
                message: Some("x".into()),
            },
            Event::Closed { reason: EndKind::EndOfStream, error_code: None, message: None },
        ];
        for event in events {
            let line = event.to_line();
            assert!(!line.contains('\n'), "{line}");
            assert_eq!(Event::from_line(&line).unwrap(), event, "{line}");
        }
    }

    #[test]
    fn float_fields_read_back_exactly() {
        // Found by the child_lines fuzzer: serde_json's default float parsing could read the
        // shortest text of a float back one ULP off, so an event did not survive a round trip.
        let line = r#"{"event":"progress","media_seconds":12.5,"frames":375,"speed":13333333333333333333333333333333333333333333333333.25}"#;
        let event = Event::from_line(line).unwrap();
        assert_eq!(Event::from_line(&event.to_line()).unwrap(), event);
        let speed = 1.3333333333333333e49_f64;
        let event = Event::Progress { media_seconds: 1e-300, frames: 1, speed };
        assert_eq!(Event::from_line(&event.to_line()).unwrap(), event, "{}", event.to_line());
    }

    #[test]
    fn end_kinds_have_stable_names_and_only_a_failure_restarts() {
        let all = [
            (EndKind::EndOfStream, "EndOfStream"),
            (EndKind::SourceStalled, "SourceStalled"),
            (EndKind::Stopped, "Stopped"),
            (EndKind::DurationReached, "DurationReached"),
            (EndKind::FragmentLimit, "FragmentLimit"),
            (EndKind::Failed, "Failed"),
        ];
        for (kind, name) in all {
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{name}\""));
            assert_eq!(kind.is_restartable(), kind == EndKind::Failed);
        }
        let closed = r#"{"event":"closed","reason":"FragmentLimit","error_code":"FRAGMENT_LIMIT","message":null}"#;
        assert_eq!(
            Event::from_line(closed).unwrap(),
            Event::Closed { reason: EndKind::FragmentLimit, error_code: Some(ErrorCode::FragmentLimit), message: None }
        );
    }
}
