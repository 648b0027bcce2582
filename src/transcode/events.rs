//! Where a transcode's [`Event`]s go: JSON lines on stdout for the supervising worker
//! (`--events jsonl`), or log lines and a progress display for a person (`--events human`).

use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::child_protocol::Event;
use crate::metrics::{procfs, Metrics, StreamLabels};

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
    /// `transcode --metrics-addr`: the stream's own series, from the same events the worker
    /// would aggregate.
    metrics: Option<Arc<LocalMetrics>>,
}

/// The series of one stream served by its own transcode.
#[derive(Debug)]
pub struct LocalMetrics {
    pub metrics: Arc<Metrics>,
    pub stream: StreamLabels,
    /// This process's CPU seconds already counted.
    cpu_counted: Mutex<f64>,
}

impl LocalMetrics {
    pub fn new(metrics: Arc<Metrics>, stream: StreamLabels) -> Arc<LocalMetrics> {
        Arc::new(LocalMetrics { metrics, stream, cpu_counted: Mutex::new(0.0) })
    }

    fn on_event(&self, event: &Event) {
        self.metrics.on_event(&self.stream, event);
        // The job's processes are this one: measured with each `stats`.
        if let (Event::Stats { .. }, Some(usage)) = (event, procfs::usage(procfs::SELF)) {
            let mut counted = self.cpu_counted.lock().expect("metrics lock");
            let more = (usage.cpu_seconds - *counted).max(0.0);
            *counted = counted.max(usage.cpu_seconds);
            self.metrics.job_resources(&self.stream, more, Some(usage.rss_bytes));
        }
    }
}

impl EventSink {
    pub fn new(format: EventFormat) -> Self {
        use std::io::IsTerminal;
        let progress = (format == EventFormat::Human && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr_with_hz(4));
            bar.set_style(indicatif::ProgressStyle::with_template("{spinner} {msg}").expect("valid template"));
            bar
        });
        EventSink { format, progress, metrics: None }
    }

    /// Also feeds every event into the stream's own metrics.
    pub fn with_metrics(mut self, metrics: Arc<LocalMetrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    pub fn format(&self) -> EventFormat {
        self.format
    }

    pub fn emit(&self, event: &Event) {
        if let Some(m) = &self.metrics {
            m.on_event(event);
        }
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
        Event::Segment { group, .. } => tracing::debug!(n = group.n, "segment published"),
        Event::Finishing { reason, .. } => tracing::debug!(?reason, "finishing"),
        Event::Stream { .. }
        | Event::SegmentCut { .. }
        | Event::PreviewsDurable { .. }
        | Event::Alive { .. }
        | Event::Stats { .. } => {}
        Event::SegmentSkipped { n, reason } => tracing::error!(n, %reason, "segment skipped"),
        Event::RenditionShed { rendition, n, .. } => {
            tracing::error!(%rendition, from_segment = n, "rendition shed under overload: removed from the masters")
        }
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
