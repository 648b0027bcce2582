//! Prometheus metrics of the worker (and of a single `transcode --metrics-addr`).
//!
//! Facts are recorded where they are born: the control link sets its own gauges, the
//! supervisor counts jobs, and each child reports its renditions, segments, previews and
//! storage requests in its events (`stats`, `segment`, `segment_skipped`,
//! `previews_durable`), which [`Metrics::on_event`] turns into series. Per-stream series are
//! removed when the stream's STREAM-CLOSED is sent ([`Metrics::forget_stream`]), so the
//! number of series stays bounded by the running jobs.
//!
//! # Layout
//! - this file: [`Metrics`], every family, and how events update them.
//! - `http`: the endpoint (`/metrics`, `/healthz`, `/readyz`) and `hls-ladder health`.
//! - `procfs`: CPU time and resident memory of a process, from `/proc`.

pub mod http;
pub mod procfs;

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::child_protocol::Event;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StreamLabels {
    pub channel: String,
    pub stream_id: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RenditionLabels {
    channel: String,
    stream_id: String,
    rendition: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FrameLabels {
    channel: String,
    stream_id: String,
    rendition: String,
    kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    figure: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClosedLabels {
    error_code: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StorageLabels {
    backend: String,
    op: String,
    result: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;
type FloatCounter = Counter<f64, AtomicU64>;

/// What a stream has shown so far, to remove its series and to turn cumulative counts
/// into increments.
#[derive(Debug, Default)]
struct StreamSeries {
    renditions: Vec<String>,
    previews: u64,
}

/// Every family, registered once. Cheap to share (`Arc<Metrics>`); every method takes `&self`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// 1 while registered with the coordinator; set by the control link itself.
    pub control_connected: Gauge,
    /// Connections established after the first; counted by the control link.
    pub control_reconnects: Counter,
    /// The capacity last sent in REGISTER (-1 unlimited).
    pub capacity: Gauge,
    pub jobs_running: Gauge,
    /// 1 while some job is behind real time (capacity 0, new jobs refused).
    pub overloaded: Gauge,
    /// Renditions shed under overload.
    pub renditions_shed: Counter,
    /// `SERVER_CAPACITY=auto`: budget, predicted use, cost of a default 720p30 job, correction.
    capacity_cores: Family<ModelLabels, FloatGauge>,
    pub jobs_started: Counter,
    pub job_restarts: Counter,
    jobs_closed: Family<ClosedLabels, Counter>,
    rendition_speed: Family<RenditionLabels, FloatGauge>,
    rendition_lag: Family<RenditionLabels, FloatGauge>,
    rendition_frames: Family<FrameLabels, Counter>,
    segments_published: Family<StreamLabels, Counter>,
    segments_skipped: Family<StreamLabels, Counter>,
    segment_publish_seconds: Histogram,
    storage_requests: Family<StorageLabels, Counter>,
    upload_queue_bytes: Family<StreamLabels, Gauge>,
    previews: Family<StreamLabels, Counter>,
    job_cpu: Family<StreamLabels, FloatCounter>,
    job_memory: Family<StreamLabels, Gauge>,
    process_cpu: FloatCounter,
    process_memory: Gauge,
    streams: Mutex<HashMap<StreamLabels, StreamSeries>>,
    /// The worker's own CPU seconds at the previous scrape.
    process_cpu_seen: Mutex<f64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut m = Metrics {
            registry: Registry::default(),
            control_connected: Gauge::default(),
            control_reconnects: Counter::default(),
            capacity: Gauge::default(),
            jobs_running: Gauge::default(),
            overloaded: Gauge::default(),
            renditions_shed: Counter::default(),
            capacity_cores: Family::default(),
            jobs_started: Counter::default(),
            job_restarts: Counter::default(),
            jobs_closed: Family::default(),
            rendition_speed: Family::default(),
            rendition_lag: Family::default(),
            rendition_frames: Family::default(),
            segments_published: Family::default(),
            segments_skipped: Family::default(),
            // 50 ms … about 100 s: a group is normally published within a segment duration.
            segment_publish_seconds: Histogram::new([0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 100.0]),
            storage_requests: Family::default(),
            upload_queue_bytes: Family::default(),
            previews: Family::default(),
            job_cpu: Family::default(),
            job_memory: Family::default(),
            process_cpu: FloatCounter::default(),
            process_memory: Gauge::default(),
            streams: Mutex::new(HashMap::new()),
            process_cpu_seen: Mutex::new(0.0),
        };
        m.register_all();
        // A clean close is the usual one: its series exists from the start.
        let _ = m.jobs_closed.get_or_create_owned(&ClosedLabels { error_code: "none".into() });
        m
    }

    fn register_all(&mut self) {
        let r = &mut self.registry;
        // prometheus-client appends `_total` to counters.
        r.register(
            "hls_ladder_control_connected",
            "1 while registered with the coordinator",
            self.control_connected.clone(),
        );
        r.register(
            "hls_ladder_control_reconnects",
            "Control connections established after the first",
            self.control_reconnects.clone(),
        );
        r.register("hls_ladder_capacity", "Capacity last sent in REGISTER (-1: unlimited)", self.capacity.clone());
        r.register(
            "hls_ladder_jobs_running",
            "Accepted jobs whose STREAM-CLOSED has not been sent",
            self.jobs_running.clone(),
        );
        r.register("hls_ladder_jobs_started", "Jobs accepted", self.jobs_started.clone());
        r.register(
            "hls_ladder_overloaded",
            "1 while a job is behind real time: capacity 0 is registered and new jobs are refused",
            self.overloaded.clone(),
        );
        r.register(
            "hls_ladder_capacity_model",
            "SERVER_CAPACITY=auto: budget_cores, used_cores (predicted, corrected), default_job_cores (a \
             default-ladder 720p30 job) and correction (measured / predicted CPU of the running jobs)",
            self.capacity_cores.clone(),
        );
        r.register(
            "hls_ladder_renditions_shed",
            "Renditions shed because jobs fell behind real time",
            self.renditions_shed.clone(),
        );
        r.register(
            "hls_ladder_jobs_closed",
            "STREAM-CLOSED sent, by Error-Code (none: a clean end)",
            self.jobs_closed.clone(),
        );
        r.register("hls_ladder_job_restarts", "Pipeline restarts", self.job_restarts.clone());
        r.register(
            "hls_ladder_rendition_speed",
            "Media seconds encoded per wall second over the last 10 s (below 1: behind a live source)",
            self.rendition_speed.clone(),
        );
        r.register(
            "hls_ladder_rendition_lag_seconds",
            "From the newest encoded frame's source packet being read to its leaving the encoder",
            self.rendition_lag.clone(),
        );
        r.register(
            "hls_ladder_rendition_frames",
            "Frames by constant-rate slotting outcome",
            self.rendition_frames.clone(),
        );
        r.register("hls_ladder_segments_published", "Segment groups published", self.segments_published.clone());
        r.register(
            "hls_ladder_segments_skipped",
            "Segment groups skipped (not storable)",
            self.segments_skipped.clone(),
        );
        r.register(
            "hls_ladder_segment_publish_seconds",
            "From a group's last segment leaving the encoders to the group being published",
            self.segment_publish_seconds.clone(),
        );
        r.register(
            "hls_ladder_storage_requests",
            "Storage requests, each attempt counted",
            self.storage_requests.clone(),
        );
        r.register("hls_ladder_upload_queue_bytes", "Bytes waiting for storage", self.upload_queue_bytes.clone());
        r.register("hls_ladder_previews", "Preview images stored", self.previews.clone());
        r.register("hls_ladder_job_cpu_seconds", "CPU time of the job's transcode processes", self.job_cpu.clone());
        r.register(
            "hls_ladder_job_resident_memory_bytes",
            "Resident memory of the job's transcode process",
            self.job_memory.clone(),
        );
        r.register("process_cpu_seconds", "CPU time of this process (user and system)", self.process_cpu.clone());
        r.register("process_resident_memory_bytes", "Resident memory of this process", self.process_memory.clone());
    }

    /// `SERVER_CAPACITY=auto`: the cost model's current figures.
    pub fn capacity_model(&self, budget: f64, used: f64, default_job: f64, correction: f64) {
        for (figure, value) in [
            ("budget_cores", budget),
            ("used_cores", used),
            ("default_job_cores", default_job),
            ("correction", correction),
        ] {
            self.capacity_cores.get_or_create(&ModelLabels { figure }).set(value);
        }
    }

    /// A child's event, for the stream `stream`.
    pub fn on_event(&self, stream: &StreamLabels, event: &Event) {
        match event {
            Event::Segment { publish_seconds, .. } => {
                self.segments_published.get_or_create(stream).inc();
                if let Some(s) = publish_seconds {
                    self.segment_publish_seconds.observe(*s);
                }
                self.seen(stream);
            }
            Event::SegmentSkipped { .. } => {
                self.segments_skipped.get_or_create(stream).inc();
                self.seen(stream);
            }
            Event::PreviewsDurable { count } => {
                self.seen(stream);
                let mut streams = self.streams.lock().expect("metrics lock");
                let series = streams.entry(stream.clone()).or_default();
                // A restarted run reports the count it continues from, never less.
                let new = count.saturating_sub(series.previews);
                series.previews = series.previews.max(*count);
                self.previews.get_or_create(stream).inc_by(new);
            }
            Event::Stats { renditions, upload_queue_bytes, storage, .. } => {
                self.seen(stream);
                self.upload_queue_bytes.get_or_create(stream).set(*upload_queue_bytes as i64);
                for r in renditions {
                    let labels = RenditionLabels {
                        channel: stream.channel.clone(),
                        stream_id: stream.stream_id.clone(),
                        rendition: r.rendition.clone(),
                    };
                    self.rendition_speed.get_or_create(&labels).set(r.speed);
                    self.rendition_lag.get_or_create(&labels).set(r.lag_seconds);
                    for (kind, n) in [("encoded", r.encoded), ("dropped", r.dropped), ("duplicated", r.duplicated)] {
                        let frames = FrameLabels {
                            channel: labels.channel.clone(),
                            stream_id: labels.stream_id.clone(),
                            rendition: labels.rendition.clone(),
                            kind,
                        };
                        self.rendition_frames.get_or_create(&frames).inc_by(n);
                    }
                    let mut streams = self.streams.lock().expect("metrics lock");
                    let series = streams.entry(stream.clone()).or_default();
                    if !series.renditions.contains(&r.rendition) {
                        series.renditions.push(r.rendition.clone());
                    }
                }
                for c in storage {
                    let labels =
                        StorageLabels { backend: c.backend.clone(), op: c.op.clone(), result: c.result.clone() };
                    self.storage_requests.get_or_create(&labels).inc_by(c.count);
                }
            }
            Event::RenditionShed { rendition, .. } => {
                // The child reports nothing more for a shed rendition, so its gauges would
                // keep the last (slow) value until the stream closes and hold the
                // slower-than-real-time alert on. Its frame counters stay: they are final.
                let labels = RenditionLabels {
                    channel: stream.channel.clone(),
                    stream_id: stream.stream_id.clone(),
                    rendition: rendition.clone(),
                };
                self.rendition_speed.remove(&labels);
                self.rendition_lag.remove(&labels);
            }
            _ => {}
        }
    }

    /// A stream's counters exist from its first report on, at 0, so that `rate()` and
    /// `increase()` see their first increment.
    fn seen(&self, stream: &StreamLabels) {
        let mut streams = self.streams.lock().expect("metrics lock");
        if !streams.contains_key(stream) {
            streams.insert(stream.clone(), StreamSeries::default());
            for family in [&self.segments_published, &self.segments_skipped, &self.previews] {
                let _ = family.get_or_create_owned(stream);
            }
        }
    }

    /// The job's transcode processes used `cpu_seconds` more CPU and hold `rss` bytes now.
    pub fn job_resources(&self, stream: &StreamLabels, cpu_seconds: f64, rss: Option<u64>) {
        if cpu_seconds > 0.0 {
            self.job_cpu.get_or_create(stream).inc_by(cpu_seconds);
        }
        if let Some(rss) = rss {
            self.job_memory.get_or_create(stream).set(rss as i64);
        }
        self.seen(stream);
    }

    /// `n` storage requests made by the worker itself (end-of-stream cleanup).
    pub fn storage_requests(&self, backend: &str, op: &str, result: &str, n: u64) {
        if n > 0 {
            let labels = StorageLabels { backend: backend.into(), op: op.into(), result: result.into() };
            self.storage_requests.get_or_create(&labels).inc_by(n);
        }
    }

    /// A STREAM-CLOSED was sent: the job's close counted, its series removed.
    pub fn stream_closed(&self, stream: &StreamLabels, error_code: Option<&str>) {
        let error_code = error_code.unwrap_or("none").to_string();
        self.jobs_closed.get_or_create(&ClosedLabels { error_code }).inc();
        self.forget_stream(stream);
    }

    /// Removes every series labelled with `stream`.
    pub fn forget_stream(&self, stream: &StreamLabels) {
        let series = self.streams.lock().expect("metrics lock").remove(stream).unwrap_or_default();
        for family in [&self.segments_published, &self.segments_skipped, &self.previews] {
            family.remove(stream);
        }
        self.upload_queue_bytes.remove(stream);
        self.job_cpu.remove(stream);
        self.job_memory.remove(stream);
        for rendition in series.renditions {
            let labels =
                RenditionLabels { channel: stream.channel.clone(), stream_id: stream.stream_id.clone(), rendition };
            self.rendition_speed.remove(&labels);
            self.rendition_lag.remove(&labels);
            for kind in ["encoded", "dropped", "duplicated"] {
                self.rendition_frames.remove(&FrameLabels {
                    channel: labels.channel.clone(),
                    stream_id: labels.stream_id.clone(),
                    rendition: labels.rendition.clone(),
                    kind,
                });
            }
        }
    }

    /// The text exposition (OpenMetrics), with this process's own figures read now.
    pub fn encode(&self) -> String {
        if let Some(usage) = procfs::usage(procfs::SELF) {
            let mut seen = self.process_cpu_seen.lock().expect("metrics lock");
            if usage.cpu_seconds > *seen {
                self.process_cpu.inc_by(usage.cpu_seconds - *seen);
                *seen = usage.cpu_seconds;
            }
            self.process_memory.set(usage.rss_bytes as i64);
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("writing to a String");
        text
    }
}

/// What the worker's `/healthz` and `/readyz` answer from, besides the control link.
#[derive(Debug)]
pub struct LoopHealth {
    /// The supervisor loop's latest turn (it turns at least once a second).
    last_turn: Mutex<std::time::Instant>,
    shutting_down: std::sync::atomic::AtomicBool,
}

impl Default for LoopHealth {
    fn default() -> Self {
        LoopHealth {
            last_turn: Mutex::new(std::time::Instant::now()),
            shutting_down: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl LoopHealth {
    /// A loop that has not turned for this long is not alive.
    const STALE: std::time::Duration = std::time::Duration::from_secs(10);

    pub fn turned(&self) {
        *self.last_turn.lock().expect("health lock") = std::time::Instant::now();
    }

    pub fn shutting_down(&self) {
        self.shutting_down.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn live(&self) -> Result<(), String> {
        let idle = self.last_turn.lock().expect("health lock").elapsed();
        if idle > Self::STALE {
            return Err(format!("the supervisor loop has not turned for {} s", idle.as_secs()));
        }
        Ok(())
    }

    /// Ready for work: alive, registered with the coordinator, not shutting down.
    pub fn ready(&self, registered: bool) -> Result<(), String> {
        self.live()?;
        if self.shutting_down.load(std::sync::atomic::Ordering::Relaxed) {
            return Err("shutting down: draining jobs, taking no new ones".into());
        }
        if !registered {
            return Err("not registered with the coordinator (the control link is down)".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::child_protocol::{RenditionStats, StorageCount};

    fn stream() -> StreamLabels {
        StreamLabels { channel: "c1".into(), stream_id: "s1".into() }
    }

    fn stats(encoded: u64) -> Event {
        Event::Stats {
            renditions: vec![RenditionStats {
                rendition: "640x360-30".into(),
                speed: 1.02,
                busy: 0.6,
                cpu: 0.25,
                lag_seconds: 0.35,
                encoded,
                dropped: 1,
                duplicated: 0,
            }],
            upload_queue_bytes: 4096,
            storage: vec![StorageCount { backend: "http".into(), op: "put".into(), result: "ok".into(), count: 3 }],
            input_behind_seconds: None,
            input_wait: None,
        }
    }

    fn line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
        text.lines().find(|l| l.starts_with(prefix))
    }

    #[test]
    fn child_events_become_series_and_leave_with_the_stream() {
        let m = Metrics::new();
        m.on_event(&stream(), &stats(30));
        m.on_event(&stream(), &stats(31));
        m.on_event(&stream(), &Event::PreviewsDurable { count: 2 });
        m.on_event(&stream(), &Event::PreviewsDurable { count: 3 });
        m.job_resources(&stream(), 1.5, Some(100_000_000));
        let text = m.encode();
        let frames = r#"hls_ladder_rendition_frames_total{channel="c1",stream_id="s1",rendition="640x360-30",kind="encoded"} 61"#;
        assert!(text.contains(frames), "{text}");
        assert!(text.contains(r#"hls_ladder_rendition_speed{channel="c1",stream_id="s1",rendition="640x360-30"} 1.02"#));
        assert!(text.contains(r#"hls_ladder_previews_total{channel="c1",stream_id="s1"} 3"#), "{text}");
        assert!(text.contains(r#"hls_ladder_storage_requests_total{backend="http",op="put",result="ok"} 6"#));
        assert!(text.contains(r#"hls_ladder_job_cpu_seconds_total{channel="c1",stream_id="s1"} 1.5"#), "{text}");
        assert!(line(&text, "process_resident_memory_bytes ").is_some(), "{text}");
        m.stream_closed(&stream(), Some("PIPELINE_FAILED"));
        let text = m.encode();
        assert!(!text.contains("stream_id=\"s1\""), "per-stream series are gone:\n{text}");
        assert!(text.contains(r#"hls_ladder_jobs_closed_total{error_code="PIPELINE_FAILED"} 1"#), "{text}");
        assert!(text.contains(r#"hls_ladder_storage_requests_total{backend="http",op="put",result="ok"} 6"#));
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn a_shed_rendition_leaves_its_gauges_and_keeps_its_counts() {
        let m = Metrics::new();
        m.on_event(&stream(), &stats(30));
        m.on_event(&stream(), &Event::RenditionShed { rung: 0, rendition: "640x360-30".into(), n: 4 });
        let text = m.encode();
        assert!(!text.contains("hls_ladder_rendition_speed{"), "{text}");
        assert!(!text.contains("hls_ladder_rendition_lag_seconds{"), "{text}");
        let frames = r#"hls_ladder_rendition_frames_total{channel="c1",stream_id="s1",rendition="640x360-30",kind="encoded"} 30"#;
        assert!(text.contains(frames), "{text}");
        m.stream_closed(&stream(), None);
        assert!(!m.encode().contains("stream_id=\"s1\""));
    }
}
