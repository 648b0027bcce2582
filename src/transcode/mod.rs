//! `hls-ladder transcode`: one stream in, a full HLS ladder out. The worker runs exactly
//! this code path in a child process per job (see [`crate::child_protocol`]).
//!
//! # Layout
//! - `job`: the arguments or the worker's job document into the pipeline's and publisher's
//!   configuration.
//! - `events`: where events go (JSON lines for the worker, logs for a person).
//! - this file: the run itself: a pipeline thread, the async publisher, the supervisor link,
//!   and the two-phase stop.

mod events;
mod job;
mod stats;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::child_protocol::{ChildCommand, ChildJob, EndKind, ErrorCode, Event};
use crate::config::{parse_bool, EncodeSettings, JobSettings};
use crate::metrics::http::Probe;
use crate::metrics::{Metrics, StreamLabels};
use crate::pipeline::preview::PreviewSpec;
use crate::pipeline::sink::{ByteBudget, Sink};
use crate::pipeline::stats::PipelineStats;
use crate::pipeline::watchdog::Watchdog;
use crate::pipeline::{self, EndReason, PipelineError, RunError};
use crate::publisher::Publisher;
pub use events::{EventFormat, EventSink, LocalMetrics};
use job::Job;
use stats::{Reporter, STATS_EVERY};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EventsArg {
    /// One JSON object per line on stdout.
    Jsonl,
    /// Logs on stderr and a progress line on a terminal.
    Human,
}

#[derive(Debug, Args)]
pub struct TranscodeArgs {
    /// rtmp:// or rtmps:// URL, a media file, or `testsrc` (built-in 1280x720 30 fps test source).
    #[arg(required_unless_present = "job")]
    pub input: Option<String>,
    /// Storage root: files go to OUT_DIR/hls/{channel}/{stream-id}/... as in worker mode.
    #[arg(required_unless_present = "job")]
    pub out_dir: Option<PathBuf>,
    /// Run a worker job: a JSON document (job spec and restart hand-over) in FILE, or `-` for
    /// the first line of stdin, after which stdin takes `stop` lines (EOF also stops). Storage
    /// then comes from the HLS_STORAGE_* environment. This is how `worker` runs each job.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["input", "out_dir", "resolutions", "record", "previews", "channel", "stream_id", "duration", "serve", "realtime"])]
    pub job: Option<String>,
    /// Renditions, e.g. `ORIGINAL,1280x720-30~2000,640x360-30` (default: the profile's ladder).
    #[arg(long)]
    pub resolutions: Option<String>,
    /// Ladder profile name, from --profiles-dir (built-in: default).
    #[arg(long, default_value = "default")]
    pub profile: String,
    /// Directory holding ladder profiles as NAME.toml.
    #[arg(long, default_value = "profiles")]
    pub profiles_dir: PathBuf,
    /// Preview images `WxH,SECONDS`, e.g. `256x144,5`.
    #[arg(long, value_parser = parse_previews)]
    pub previews: Option<PreviewSpec>,
    /// Write recording (VOD) playlists vod-K.m3u8 and keep every segment.
    #[arg(long)]
    pub record: bool,
    /// How the stream is encoded and published (shared with `worker`).
    #[command(flatten)]
    pub settings: JobSettings,
    /// Stream-Channel used in storage paths.
    #[arg(long, default_value = "test")]
    pub channel: String,
    /// Stream-ID used in storage paths.
    #[arg(long, default_value = "local")]
    pub stream_id: String,
    /// Stop after this many seconds of media.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Event output.
    #[arg(long, value_enum, default_value = "human")]
    pub events: EventsArg,
    /// Serve this stream's metrics (/metrics, /healthz, /readyz) on ADDR, e.g. 127.0.0.1:9091.
    /// (Not read from METRICS_ADDR: the worker's children inherit that variable.)
    #[arg(long, value_name = "ADDR", value_parser = parse_addr)]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Serve OUT_DIR over HTTP on ADDR (e.g. 127.0.0.1:8080) while the stream is produced:
    /// the stream list and player page of `hls-ladder serve`. Stops when the transcode ends.
    #[arg(long, value_name = "ADDR")]
    pub serve: Option<SocketAddr>,
    /// Read the input at its own pace, as `ffmpeg -re` does: media time never runs ahead of
    /// wall time since the first frame. Default: YES for testsrc with --serve, NO otherwise.
    #[arg(long, value_name = "YES|NO", value_parser = parse_bool, action = clap::ArgAction::Set,
        num_args = 0..=1, default_missing_value = "YES")]
    pub realtime: Option<bool>,
}

fn parse_addr(s: &str) -> Result<std::net::SocketAddr, String> {
    s.parse().map_err(|_| format!("expected an IP address and port like 127.0.0.1:9091, got {s:?}"))
}

fn parse_previews(s: &str) -> Result<PreviewSpec, String> {
    PreviewSpec::parse(s).ok_or_else(|| format!("expected WxH,SECONDS like 256x144,5, got {s:?}"))
}

/// Reads the job document: a file, or (`-`) the first line of stdin.
fn read_child_job(from: &str) -> anyhow::Result<ChildJob> {
    let text = if from == "-" {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).context("reading the job from stdin")?;
        line
    } else {
        std::fs::read_to_string(from).with_context(|| format!("reading the job file {from}"))?
    };
    ChildJob::from_line(&text).context("the job is not a valid job document (see `worker`)")
}

/// After the job line, stdin carries the supervisor's [`ChildCommand`]s: `stop` finishes the
/// stream (stop reading, flush, ENDLIST). EOF means the supervisor is gone: finish the same
/// way rather than run on unsupervised.
fn follow_supervisor(stop: CancellationToken, stats: Arc<PipelineStats>) {
    let spawned = std::thread::Builder::new().name("supervisor-link".into()).spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            match ChildCommand::parse(&line) {
                Some(ChildCommand::Stop) => {
                    tracing::info!("stop requested by the supervisor: finishing the stream");
                    stop.cancel();
                }
                Some(ChildCommand::Shed(label)) => match stats.request_shed(&label) {
                    Ok(()) => {
                        tracing::warn!(rendition = %label, "overload: shedding rendition at its next segment boundary")
                    }
                    Err(e) => tracing::error!(rendition = %label, "shed request refused: {e}"),
                },
                None => tracing::warn!(command = line.trim(), "unknown supervisor command ignored"),
            }
        }
        if !stop.is_cancelled() {
            tracing::warn!("supervisor gone (stdin closed): finishing the stream");
            stop.cancel();
        }
    });
    if let Err(e) = spawned {
        tracing::error!("cannot follow the supervisor's commands: {e}");
    }
}

pub fn run(args: TranscodeArgs) -> anyhow::Result<ExitCode> {
    let settings = EncodeSettings::try_from(&args.settings)?;
    crate::logging::set_libav_verbosity(settings.ffmpeg_trace);
    crate::pipeline::avoid_huge_pages();
    let format = match args.events {
        EventsArg::Jsonl => EventFormat::Jsonl,
        EventsArg::Human => EventFormat::Human,
    };
    let follow_stdin = args.job.as_deref() == Some("-");
    let metrics_addr = args.metrics_addr;
    let serve = args.serve.zip(args.out_dir.clone());
    let job = match args.job.clone() {
        Some(from) => Job::from_child_job(read_child_job(&from)?, &settings)?,
        None => Job::from_cli(args, &settings)?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let mut events = EventSink::new(format);
    if let Some(addr) = metrics_addr {
        let stream = StreamLabels { channel: job.publish.channel.clone(), stream_id: job.publish.stream_id.clone() };
        let local = LocalMetrics::new(Arc::new(Metrics::new()), stream);
        let always: Probe = Arc::new(|| Ok(()));
        runtime.block_on(crate::metrics::http::serve(addr, local.metrics.clone(), always.clone(), always))?;
        events = events.with_metrics(local);
    }
    let span = tracing::info_span!("stream", channel = %job.publish.channel, stream_id = %job.publish.stream_id);
    let outcome = runtime.block_on(async {
        let server = match serve {
            Some((addr, dir)) => Some(serve_output(addr, &dir, &job).await?),
            None => None,
        };
        let outcome = transcode(job, events.clone(), follow_stdin).instrument(span).await;
        if let Some(stop) = server {
            stop.cancel();
        }
        outcome
    })?;
    events.emit(&outcome.event(false));
    Ok(if outcome.error.is_some() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// `--serve`: OUT_DIR over HTTP on the transcode's runtime, until the returned token is
/// cancelled.
async fn serve_output(addr: SocketAddr, dir: &std::path::Path, job: &Job) -> anyhow::Result<CancellationToken> {
    let (addr, stop) = crate::serve::spawn(addr, dir).await.context("--serve")?;
    let (channel, stream_id) = (&job.publish.channel, &job.publish.stream_id);
    tracing::info!(
        dir = %dir.display(),
        realtime = job.pipeline.realtime,
        "serving on http://{addr}/ ; this stream: http://{addr}/watch/{channel}/{stream_id}"
    );
    Ok(stop)
}

/// How a transcode ended, as reported in the `finishing` and `closed` events.
pub struct Outcome {
    pub end: EndKind,
    pub error: Option<ErrorCode>,
    /// What failed, for the operator and the STREAM-CLOSED `Error-Message`; no stream key.
    pub message: Option<String>,
}

impl Outcome {
    pub fn of(result: &Result<EndReason, RunError>) -> Outcome {
        let end = match result {
            Ok(EndReason::EndOfStream) => EndKind::EndOfStream,
            Ok(EndReason::SourceStalled) => EndKind::SourceStalled,
            Ok(EndReason::Stopped) | Err(RunError { error: PipelineError::Stopped, .. }) => EndKind::Stopped,
            Ok(EndReason::DurationReached) => EndKind::DurationReached,
            Ok(EndReason::FragmentLimit) => EndKind::FragmentLimit,
            Err(_) => EndKind::Failed,
        };
        let error = match result {
            Ok(EndReason::FragmentLimit) => Some(ErrorCode::FragmentLimit),
            Ok(_) => None,
            Err(e) => match e.error {
                PipelineError::Open { .. } => Some(ErrorCode::SourceUnreachable),
                PipelineError::SourceTimeout { .. } => Some(ErrorCode::SourceTimeout),
                PipelineError::Stopped => None,
                _ => Some(ErrorCode::PipelineFailed),
            },
        };
        let message = result.as_ref().err().filter(|e| !matches!(e.error, PipelineError::Stopped));
        let message = message.map(|e| crate::redact::redact_urls(&e.to_string()));
        Outcome { end, error, message }
    }

    /// The `finishing` event (`finishing`: the pipeline is done, the last writes begin) or
    /// the `closed` one.
    pub fn event(&self, finishing: bool) -> Event {
        let (reason, error_code, message) = (self.end, self.error, self.message.clone());
        if finishing {
            Event::Finishing { reason, error_code, message }
        } else {
            Event::Closed { reason, error_code, message }
        }
    }
}

/// Runs the pipeline and the publisher until the stream is finished.
///
/// Stopping is two-phase (as in vector's shutdown): `stop` (Ctrl-C, the supervisor's `stop`)
/// ends the input, and everything read so far is still encoded, published and finalized;
/// once the pipeline is done its last uploads get `job.drain`, after which `abort` cancels
/// them and the stream closes without them.
async fn transcode(job: Job, events: EventSink, follow_stdin: bool) -> anyhow::Result<Outcome> {
    let abort = CancellationToken::new();
    let stop = abort.child_token();
    let budget = ByteBudget::new(job.queue_bytes);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let sink = Sink::new(tx, budget.clone());
    let watchdog = Watchdog::new(job.pipeline.source_timeout, stop.clone());

    // A restarted run sheds what the runs before it shed.
    if let Some(state) = job.publish.resume.as_ref() {
        for (i, desc) in state.config().renditions.iter().enumerate().filter(|(i, _)| state.is_shed(*i)) {
            tracing::info!(rendition = %desc.label, index = i, "rendition stays shed after the restart");
            let _ = job.pipeline.stats.request_shed(&desc.label);
        }
    }
    if follow_stdin {
        follow_supervisor(stop.clone(), job.pipeline.stats.clone());
    }
    let alive = tokio::spawn(report_alive(watchdog.clone(), events.clone()).in_current_span());
    let stats = Reporter::new(job.pipeline.stats.clone(), job.storage.clone(), budget.clone());
    let reporting = tokio::spawn(report_stats(stats, events.clone()).in_current_span());
    tokio::spawn(stop_on_ctrl_c(stop.clone()));

    let config = job.pipeline;
    let span = tracing::Span::current();
    let pipeline = std::thread::Builder::new()
        .name("reader".into())
        .spawn(move || {
            let _span = span.enter();
            let result = pipeline::run(&config, &watchdog, &sink);
            drop(sink);
            crate::logging::report_held_back_libav_lines();
            result
        })
        .context("spawning the pipeline thread")?;
    let sink_events = events.clone();
    let emit = move |event: &Event| sink_events.emit(event);
    let publisher = Publisher::new(job.publish, job.storage.clone(), budget, emit, abort.clone());
    let mut publishing = tokio::spawn(publisher.run(rx).in_current_span());
    let result = tokio::task::spawn_blocking(move || pipeline.join())
        .await
        .context("joining the pipeline")?
        .unwrap_or_else(|_| Err(RunError::from(PipelineError::Panic("reader thread".into()))));
    // Every segment is produced; from here on only the last uploads and playlist writes remain.
    let outcome = Outcome::of(&result);
    events.emit(&outcome.event(true));
    let summary = tokio::select! {
        summary = &mut publishing => summary,
        () = tokio::time::sleep(job.drain) => {
            tracing::error!(after = ?job.drain, "the last uploads did not finish: cancelling them; \
                their segments and final playlist writes are lost");
            abort.cancel();
            publishing.await
        }
    }
    .context("publisher task")?;
    tracing::info!(
        published = summary.published,
        skipped = summary.skipped,
        previews = summary.previews,
        mbytes = summary.bytes / 1_000_000,
        "stream finished"
    );
    // Nothing may follow the `closed` event the caller emits next.
    for task in [alive, reporting] {
        task.abort();
        let _ = task.await;
    }
    Ok(outcome)
}

/// Ctrl-C finishes the stream properly; a second one aborts at once.
async fn stop_on_ctrl_c(stop: CancellationToken) {
    if tokio::signal::ctrl_c().await.is_ok() {
        tracing::info!("interrupted: finishing the stream (Ctrl-C again to abort)");
        stop.cancel();
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(130);
        }
    }
}

/// The `stats` event every [`STATS_EVERY`], for the metrics.
async fn report_stats(mut reporter: Reporter, events: EventSink) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + STATS_EVERY, STATS_EVERY);
    loop {
        tick.tick().await;
        events.emit(&reporter.sample(std::time::Instant::now()));
    }
}

/// The `alive` event every second, for the supervisor's stall detection.
async fn report_alive(watchdog: Arc<Watchdog>, events: EventSink) {
    if events.format() != EventFormat::Jsonl {
        return;
    }
    let every = Duration::from_secs(1);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tick.tick().await;
        events.emit(&Event::Alive { input_idle_seconds: watchdog.input_idle().as_secs_f64() });
    }
}
