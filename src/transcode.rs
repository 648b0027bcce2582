//! `hls-ladder transcode`: one stream in, a full HLS ladder out. The worker runs exactly
//! this code path in a child process per job.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, ValueEnum};

use crate::cli::JobSettings;
use crate::control::message::validate_id;
use crate::events::{ErrorCode, Event, EventFormat, EventSink};
use crate::ladder::{self, Profile, RequestItem};
use crate::pipeline::audio::AudioSettings;
use crate::pipeline::input::{Source, Watchdog};
use crate::pipeline::preview::PreviewSpec;
use crate::pipeline::sink::{ByteBudget, Sink};
use crate::pipeline::video::VideoSettings;
use crate::pipeline::{self, EndReason, LadderChoice, PipelineConfig, PipelineError};
use crate::publisher::{PublishSettings, Publisher};
use crate::storage::{FsStorage, RetryPolicy, Storage, StorageConfig};
use crate::supervisor::{ChildJob, JobSpec, Resume, SourceKind};
use tracing::Instrument as _;

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
    #[arg(long, value_name = "FILE", conflicts_with_all = ["input", "out_dir", "resolutions", "record", "previews", "channel", "stream_id", "duration"])]
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
}

fn parse_previews(s: &str) -> Result<PreviewSpec, String> {
    PreviewSpec::parse(s).ok_or_else(|| format!("expected WxH,SECONDS like 256x144,5, got {s:?}"))
}

/// The validated job: everything the pipeline and publisher need.
pub struct Job {
    pub pipeline: PipelineConfig,
    pub publish: PublishSettings,
    pub storage: Arc<dyn Storage>,
    pub queue_bytes: usize,
}

/// What differs between a by-hand run and a worker job; the encoding settings are shared.
struct Target {
    source: Source,
    ladder: LadderChoice,
    channel: String,
    stream_id: String,
    record: bool,
    previews: Option<PreviewSpec>,
    max_media: Option<Duration>,
    resume: Option<Resume>,
    storage: Arc<dyn Storage>,
}

impl Job {
    /// `transcode INPUT OUT_DIR`: a filesystem directory readable by the user's player.
    fn from_cli(a: TranscodeArgs) -> anyhow::Result<Job> {
        anyhow::ensure!(validate_id(&a.channel), "--channel must match [A-Za-z0-9_-]{{1,128}}, got {:?}", a.channel);
        anyhow::ensure!(
            validate_id(&a.stream_id),
            "--stream-id must match [A-Za-z0-9_-]{{1,128}}, got {:?}",
            a.stream_id
        );
        let ladder = match &a.resolutions {
            Some(list) => {
                let (items, errors) = ladder::parse_list(list);
                for e in &errors {
                    tracing::warn!("resolution dropped: {e}");
                }
                anyhow::ensure!(
                    !items.is_empty() || list.trim().is_empty(),
                    "--resolutions {list:?} has no valid item; expected ORIGINAL or WxH[-FPS][~KBPS]"
                );
                LadderChoice::Items(items)
            }
            None => LadderChoice::Profile(load_profile(&a)?),
        };
        let max_media = match a.duration {
            Some(d) if d > 0.0 && d.is_finite() => Some(Duration::from_secs_f64(d)),
            Some(d) => anyhow::bail!("--duration must be a positive number of seconds, got {d}"),
            None => None,
        };
        let (input, out_dir) = (a.input.clone().unwrap_or_default(), a.out_dir.clone().unwrap_or_default());
        let target = Target {
            source: Source::parse(&input, a.settings.source_tls_verify),
            ladder,
            channel: a.channel.clone(),
            stream_id: a.stream_id.clone(),
            record: a.record,
            previews: a.previews,
            max_media,
            resume: None,
            storage: Arc::new(FsStorage::new(out_dir, 0o755, 0o644, false)),
        };
        Job::assemble(&a.settings, target)
    }

    /// `transcode --job`: a job the worker validated (spec §5), storage from the environment.
    fn from_child_job(a: TranscodeArgs, job: ChildJob) -> anyhow::Result<Job> {
        let spec = job.spec;
        let ladder = match &job.resume {
            Some(resume) => LadderChoice::Fixed(resume.ladder.clone()),
            None => {
                // Spec §4: invalid items are dropped; an empty list or no valid item is ORIGINAL.
                let mut items = ladder::parse_list_warn(&spec.resolutions);
                if items.is_empty() {
                    items.push(RequestItem::Original);
                }
                LadderChoice::Items(items)
            }
        };
        let storage = StorageConfig::from_env(|k| std::env::var(k).ok())
            .and_then(|config| config.build())
            .context("configuring storage")?;
        let target = Target {
            source: Source::parse(&job_source_url(&spec), a.settings.source_tls_verify),
            ladder,
            channel: spec.channel,
            stream_id: spec.stream_id,
            record: spec.record,
            previews: spec.previews,
            max_media: None,
            resume: job.resume,
            storage,
        };
        Job::assemble(&a.settings, target)
    }

    fn assemble(s: &JobSettings, t: Target) -> anyhow::Result<Job> {
        let pixel_format: ffmpeg_next::format::Pixel = s.pixel_format.parse().map_err(|_| {
            anyhow::anyhow!("unknown pixel format {:?} (HLS_PIXEL_FORMAT); yuv420p is the usual one", s.pixel_format)
        })?;
        let audio_kbps = match &t.ladder {
            LadderChoice::Profile(p) if s.audio_kbps == 128 => p.audio_kbps(),
            _ => s.audio_kbps,
        };
        let first_segment = t.resume.as_ref().map_or(0, |r| r.next_segment);
        let first_preview = t.resume.as_ref().map_or(0, |r| r.next_preview);
        let pipeline = PipelineConfig {
            source: t.source,
            ladder: t.ladder,
            hls_time: s.hls_time,
            video: VideoSettings {
                codec: s.video_codec.clone(),
                preset: s.effective_preset().to_string(),
                pixel_format,
                threads: s.encoder_threads,
            },
            audio: AudioSettings { codec: s.audio_codec.clone(), bitrate_kbps: audio_kbps },
            previews: t.previews,
            source_timeout: Duration::from_secs(s.source_timeout.max(1)),
            max_media: t.max_media,
            // The limit counts the stream's segments, earlier runs included (output-layout §10).
            max_segments: Some(s.fragment_limit.saturating_sub(first_segment)),
            first_segment,
            first_preview,
        };
        let publish = PublishSettings {
            channel: t.channel,
            stream_id: t.stream_id,
            hls_time: s.hls_time,
            live_size: s.live_size,
            vod_max_size: s.vod_max_size,
            record: t.record,
            master: s.master,
            audio_kbps,
            previews: t.previews,
            retry: RetryPolicy { deadline: Duration::from_secs(s.storage_retry), ..RetryPolicy::default() },
            first_segment,
            first_preview,
            resume: t.resume.and_then(|r| r.state),
        };
        Ok(Job { pipeline, publish, storage: t.storage, queue_bytes: s.upload_queue_mb.max(1) << 20 })
    }
}

/// Spec §10.2: RTMP is played with `?cache=clear` (the ingest replays its GOP cache, then stops
/// caching; servers that do not know the option ignore it).
fn job_source_url(spec: &JobSpec) -> String {
    match spec.source {
        SourceKind::Rtmp if !spec.source_uri.contains('?') => format!("{}?cache=clear", spec.source_uri),
        _ => spec.source_uri.clone(),
    }
}

fn load_profile(a: &TranscodeArgs) -> anyhow::Result<Profile> {
    let file = a.profiles_dir.join(format!("{}.toml", a.profile));
    if file.exists() {
        return Profile::load(&a.profiles_dir, &a.profile)
            .with_context(|| format!("loading profile {}", file.display()));
    }
    anyhow::ensure!(a.profile == "default", "profile {:?} not found: no file {}", a.profile, file.display());
    Ok(Profile::default_builtin())
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
    serde_json::from_str(&text).context("the job is not a valid job document (see `worker`)")
}

/// After the job line, stdin carries the supervisor's commands: `stop` finishes the stream
/// (stop reading, flush, ENDLIST). EOF means the supervisor is gone: finish the same way
/// rather than run on unsupervised.
fn follow_supervisor(watchdog: Arc<Watchdog>) {
    let spawned = std::thread::Builder::new().name("supervisor-link".into()).spawn(move || {
        for line in std::io::stdin().lines() {
            match line.as_deref().map(str::trim) {
                Ok("stop") => {
                    tracing::info!("stop requested by the supervisor: finishing the stream");
                    watchdog.stop.store(true, Ordering::Relaxed);
                }
                Ok(other) => tracing::warn!(command = other, "unknown supervisor command ignored"),
                Err(_) => break,
            }
        }
        if !watchdog.stop_requested() {
            tracing::warn!("supervisor gone (stdin closed): finishing the stream");
            watchdog.stop.store(true, Ordering::Relaxed);
        }
    });
    if let Err(e) = spawned {
        tracing::error!("cannot follow the supervisor's commands: {e}");
    }
}

pub fn run(args: TranscodeArgs) -> anyhow::Result<ExitCode> {
    crate::logging::set_libav_verbosity(args.settings.ffmpeg_trace);
    ffmpeg_next::init().context("initialising FFmpeg")?;
    crate::pipeline::avoid_huge_pages();
    let format = match args.events {
        EventsArg::Jsonl => EventFormat::Jsonl,
        EventsArg::Human => EventFormat::Human,
    };
    let follow_stdin = args.job.as_deref() == Some("-");
    let job = match args.job.clone() {
        Some(from) => Job::from_child_job(args, read_child_job(&from)?)?,
        None => Job::from_cli(args)?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let events = EventSink::new(format);
    let span = tracing::info_span!("stream", channel = %job.publish.channel, stream_id = %job.publish.stream_id);
    let outcome = runtime.block_on(transcode(job, events.clone(), follow_stdin).instrument(span))?;
    events.emit(&outcome.event());
    Ok(if outcome.error.is_some() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// The `closed` event's `reason` when the run failed; every other reason is a normal end.
pub const FAILED_REASON: &str = "Failed";

/// How a transcode ended, as reported in the `closed` event.
pub struct Outcome {
    pub reason: Result<EndReason, PipelineError>,
    pub error: Option<ErrorCode>,
}

impl Outcome {
    /// The `closed` event.
    pub fn event(&self) -> Event {
        let (reason, message) = self.describe();
        Event::Closed { reason, error_code: self.error, message }
    }

    /// The `finishing` event: the same end, announced before the last writes.
    pub fn finishing_event(&self) -> Event {
        let (reason, message) = self.describe();
        Event::Finishing { reason, error_code: self.error, message }
    }

    fn describe(&self) -> (String, Option<String>) {
        match &self.reason {
            Ok(r) => (format!("{r:?}"), None),
            Err(e) => (FAILED_REASON.to_string(), Some(e.to_string())),
        }
    }
}

pub fn error_code(result: &Result<EndReason, PipelineError>) -> Option<ErrorCode> {
    match result {
        Ok(EndReason::FragmentLimit) => Some(ErrorCode::FragmentLimit),
        Ok(_) => None,
        Err(PipelineError::Open { .. }) => Some(ErrorCode::SourceUnreachable),
        Err(PipelineError::SourceTimeout { .. }) => Some(ErrorCode::SourceTimeout),
        Err(PipelineError::Stopped) => None,
        Err(_) => Some(ErrorCode::PipelineFailed),
    }
}

async fn transcode(job: Job, events: EventSink, follow_stdin: bool) -> anyhow::Result<Outcome> {
    let storage = job.storage;
    let budget = ByteBudget::new(job.queue_bytes);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let sink = Sink::new(tx, budget.clone());
    let watchdog = Watchdog::new(job.pipeline.source_timeout);

    if follow_stdin {
        follow_supervisor(watchdog.clone());
    }
    let alive = tokio::spawn(report_alive(watchdog.clone(), events.clone()).in_current_span());
    let dog = watchdog.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!("interrupted: finishing the stream (Ctrl-C again to abort)");
            dog.stop.store(true, Ordering::Relaxed);
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });

    let config = job.pipeline;
    let span = tracing::Span::current();
    let pipeline = std::thread::Builder::new()
        .name("reader".into())
        .spawn(move || {
            let _span = span.enter();
            let result = pipeline::run(&config, &watchdog, &sink);
            drop(sink);
            result
        })
        .context("spawning the pipeline thread")?;
    let publisher = Publisher::new(job.publish, storage, budget, events.clone());
    let publishing = tokio::spawn(publisher.run(rx).in_current_span());
    let reason = tokio::task::spawn_blocking(move || pipeline.join())
        .await
        .context("joining the pipeline")?
        .unwrap_or_else(|_| Err(PipelineError::Panic("reader thread".into())));
    // Every segment is produced; from here on only the last uploads and playlist writes remain.
    let error = error_code(&reason);
    let outcome = Outcome { reason, error };
    events.emit(&outcome.finishing_event());
    let summary = publishing.await.context("publisher task")?;
    tracing::info!(
        published = summary.published,
        skipped = summary.skipped,
        previews = summary.previews,
        mbytes = summary.bytes / 1_000_000,
        "stream finished"
    );
    // Nothing may follow the `closed` event the caller emits next.
    alive.abort();
    let _ = alive.await;
    Ok(outcome)
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
