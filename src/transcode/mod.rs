//! `hls-ladder transcode`: one stream in, a full HLS ladder out. The worker runs exactly
//! this code path in a child process per job (see [`crate::child_protocol`]).
//!
//! # Layout
//! - `args`: the command's arguments, and the job document a run by hand builds from them.
//! - `link`: the worker link on stdin (the job document, then `stop` and `shed` commands).
//! - `job`: the job document into the pipeline's and the publisher's configuration.
//! - `side`: what a run by hand may serve beside the stream (its metrics, the player page).
//! - `events`: where events go (JSON lines for the worker, logs for a person).
//! - `outcome`: how a run ended, as the `finishing` and `closed` events say it.
//! - this file: [`command`] (the CLI wiring) and [`run`] (a pipeline thread, the async
//!   publisher, the two-phase stop).

mod args;
mod events;
mod job;
mod link;
mod outcome;
mod side;
mod stats;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::child_protocol::Event;
use crate::pipeline::sink::{ByteBudget, Sink};
use crate::pipeline::watchdog::Watchdog;
use crate::pipeline::{self, PipelineError, RunError};
use crate::publisher::Publisher;
pub use args::{EventsArg, TranscodeArgs};
pub use events::{EventFormat, EventSink, LocalMetrics};
pub use job::Job;
pub use outcome::Outcome;
use stats::{Reporter, STATS_EVERY};

/// The `transcode` command: the job document (from `--job`, or built from the arguments), the
/// side servers, the worker link, then [`run`] until the stream is finished or `shutdown`.
pub async fn command(args: TranscodeArgs, shutdown: CancellationToken) -> anyhow::Result<ExitCode> {
    let document = match &args.job {
        Some(from) => link::read_job(from)?,
        None => args.to_document()?,
    };
    crate::logging::set_libav_verbosity(document.settings.ffmpeg_trace);
    crate::pipeline::avoid_huge_pages();
    let job = Job::from_document(document)?;
    let format = match args.events {
        EventsArg::Jsonl => EventFormat::Jsonl,
        EventsArg::Human => EventFormat::Human,
    };
    let mut events = EventSink::new(format);
    if let Some(addr) = args.metrics_addr {
        events = events.with_metrics(side::serve_metrics(addr, &job).await?);
    }
    let server = match args.serve.zip(args.out_dir.as_deref()) {
        Some((addr, dir)) => Some(side::serve_output(addr, dir, &job).await?),
        None => None,
    };
    if args.job.as_deref() == Some("-") {
        link::follow_supervisor(shutdown.clone(), job.pipeline.stats.clone());
    }
    let span = tracing::info_span!("stream", channel = %job.publish.channel, stream_id = %job.publish.stream_id);
    let outcome = run(job, events.clone(), shutdown).instrument(span).await;
    if let Some(server) = server {
        server.cancel();
    }
    let outcome = outcome?;
    events.emit(&outcome.event(false));
    Ok(if outcome.error.is_some() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// Runs the pipeline and the publisher until the stream is finished, and says how it ended;
/// the caller emits the `closed` event (nothing may follow it).
///
/// Stopping is two-phase (as in vector's shutdown): `shutdown` (Ctrl-C, the supervisor's
/// `stop`) ends the input, and everything read so far is still encoded, published and
/// finalized; once the pipeline is done its last uploads get `job.drain`, after which they
/// are cancelled and the stream closes without them.
pub async fn run(job: Job, events: EventSink, shutdown: CancellationToken) -> anyhow::Result<Outcome> {
    let abort = CancellationToken::new();
    let stop = shutdown.child_token();
    let budget = ByteBudget::new(job.queue_bytes);
    // Unbounded in count, bounded in bytes: every segment the pipeline sends takes its size
    // from `budget`, and one that does not fit is dropped (and skipped) instead of queued.
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
    let alive = tokio::spawn(report_alive(watchdog.clone(), events.clone()).in_current_span());
    let stats = Reporter::new(job.pipeline.stats.clone(), job.storage.clone(), budget.clone());
    let reporting = tokio::spawn(report_stats(stats, events.clone()).in_current_span());

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
