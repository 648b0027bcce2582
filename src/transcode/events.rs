//! Where a transcode's [`Event`]s go: JSON lines on stdout for the supervising worker
//! (`--events jsonl`), or log lines and a progress display for a person (`--events human`).

use std::io::Write;

use crate::child_protocol::Event;

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
        Event::Finishing { reason, .. } => tracing::debug!(?reason, "finishing"),
        Event::Stream { .. } | Event::SegmentCut { .. } | Event::PreviewsDurable { .. } | Event::Alive { .. } => {}
        Event::SegmentSkipped { n, reason } => tracing::error!(n, %reason, "segment skipped"),
        Event::IndexAvailable { stream_type, index_file, .. } => {
            tracing::info!(%stream_type, %index_file, "index available")
        }
        Event::Progress { .. } => {}
        Event::Closed { reason, error_code, message } => match error_code {
            Some(code) => tracing::error!(?reason, %code, message = message.as_deref().unwrap_or(""), "closed"),
            None => tracing::info!(?reason, "closed"),
        },
    }
}
