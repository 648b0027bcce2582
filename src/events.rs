//! Machine-readable progress of one transcode, one JSON object per line on stdout
//! (`--events jsonl`). The worker reads these from its child processes; the schema is the
//! contract between `hls-ladder transcode` and `hls-ladder worker`.

use std::io::Write;

use serde::{Deserialize, Serialize};

use crate::hls::state::{GroupRecord, StreamConfig, StreamType};
use crate::ladder::Rendition;

/// Why a stream closed abnormally; the `Error-Code` of STREAM-CLOSED.
pub use crate::control::message::ErrorCode;

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
    Segment { group: GroupRecord },
    /// Group `n` could not be stored and was dropped from every rendition.
    SegmentSkipped { n: u64, reason: String },
    /// An index file is durable and may be announced (STREAM-AVAILABLE).
    IndexAvailable { stream_type: StreamType, resolution: String, index_file: String, start_time: Option<String> },
    /// Media time transcoded so far in this run, and speed relative to real time.
    Progress { media_seconds: f64, frames: u64, speed: f64 },
    /// Images `0.jpg` … `count-1.jpg` are durable: a restarted run numbers previews from `count`.
    PreviewsDurable { count: u64 },
    /// Sent every second whatever the pipeline does: the process is alive, and its source
    /// delivered data `input_idle_seconds` ago. Lets the supervisor tell a stalled pipeline
    /// (input arrives, no progress) from a silent source (the child ends that by itself).
    Alive { input_idle_seconds: f64 },
    /// The pipeline is done and the last writes begin (coordinator-protocol §9.1.4: the
    /// STREAM-CLOSED deadline runs from here). The same fields as `closed`, which follows
    /// once the final playlists are durable.
    Finishing { reason: String, error_code: Option<ErrorCode>, message: Option<String> },
    /// The stream ended; final playlists are durable. `error_code` is absent on a clean end.
    Closed { reason: String, error_code: Option<ErrorCode>, message: Option<String> },
}

impl Event {
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("events always serialize")
    }
}

/// Where events go: JSON lines on stdout, or human-readable logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventFormat {
    Jsonl,
    Human,
}

#[derive(Debug, Clone)]
pub struct EventSink {
    format: EventFormat,
    /// A one-line progress display, only when a person watches a terminal.
    progress: Option<indicatif::ProgressBar>,
}

impl EventSink {
    pub fn new(format: EventFormat) -> Self {
        use std::io::IsTerminal;
        let progress = (format == EventFormat::Human && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr_with_hz(4));
            bar.set_style(indicatif::ProgressStyle::with_template("{spinner} {msg}").expect("valid template"));
            bar
        });
        EventSink { format, progress }
    }

    pub fn format(&self) -> EventFormat {
        self.format
    }

    pub fn emit(&self, event: &Event) {
        match self.format {
            EventFormat::Jsonl => {
                let mut out = std::io::stdout().lock();
                // A closed stdout means the supervisor is gone; nothing left to tell.
                let _ = writeln!(out, "{}", event.to_line());
                let _ = out.flush();
            }
            EventFormat::Human => {
                if let Some(bar) = &self.progress {
                    match event {
                        Event::Progress { media_seconds, frames, speed } => {
                            bar.set_message(format!(
                                "{media_seconds:.1} s of media, {frames} frames, {speed:.2}x real time"
                            ));
                            bar.tick();
                        }
                        Event::Closed { .. } => bar.finish_and_clear(),
                        _ => {}
                    }
                }
                log_event(event)
            }
        }
    }
}

fn log_event(event: &Event) {
    match event {
        Event::Started { source, renditions, audio, .. } => {
            let labels: Vec<_> = renditions.iter().map(|r| r.label.as_str()).collect();
            tracing::info!(%source, audio, ladder = %labels.join(","), "started");
        }
        Event::Segment { group } => tracing::debug!(n = group.n, "segment published"),
        Event::Finishing { reason, .. } => tracing::debug!(%reason, "finishing"),
        Event::Stream { .. } | Event::SegmentCut { .. } | Event::PreviewsDurable { .. } | Event::Alive { .. } => {}
        Event::SegmentSkipped { n, reason } => tracing::error!(n, %reason, "segment skipped"),
        Event::IndexAvailable { stream_type, index_file, .. } => {
            tracing::info!(%stream_type, %index_file, "index available")
        }
        Event::Progress { .. } => {}
        Event::Closed { reason, error_code, message } => match error_code {
            Some(code) => tracing::error!(%reason, %code, message = message.as_deref().unwrap_or(""), "closed"),
            None => tracing::info!(%reason, "closed"),
        },
    }
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
        let closed = Event::Closed {
            reason: "fragment limit".into(),
            error_code: Some(ErrorCode::FragmentLimit),
            message: None,
        };
        assert!(closed.to_line().contains(r#""error_code":"FRAGMENT_LIMIT""#));
        assert_eq!(serde_json::from_str::<Event>(&closed.to_line()).unwrap(), closed);
    }
}
