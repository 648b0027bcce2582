//! `hls-ladder transcode`: one stream in, a full HLS ladder out. The worker runs exactly
//! this code path in a child process per job.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, ValueEnum};

use crate::cli::parse_bool;
use crate::control::message::validate_id;
use crate::events::{ErrorCode, Event, EventFormat, EventSink};
use crate::ladder::{self, Profile};
use crate::pipeline::audio::AudioSettings;
use crate::pipeline::input::{Source, Watchdog};
use crate::pipeline::preview::PreviewSpec;
use crate::pipeline::sink::{ByteBudget, Sink};
use crate::pipeline::video::VideoSettings;
use crate::pipeline::{self, EndReason, LadderChoice, PipelineConfig, PipelineError};
use crate::publisher::{PublishSettings, Publisher};
use crate::storage::{FsStorage, RetryPolicy};

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
    pub input: String,
    /// Storage root: files go to OUT_DIR/hls/{channel}/{stream-id}/... as in worker mode.
    pub out_dir: PathBuf,
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
    /// Segment length and keyframe interval, seconds.
    #[arg(long, env = "HLS_TIME_SECONDS", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=60))]
    pub hls_time: u32,
    /// Entries in live.m3u8.
    #[arg(long, env = "HLS_LIVE_PLAYLIST_SIZE", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub live_size: u32,
    /// Entries per vod-K.m3u8.
    #[arg(long, env = "HLS_VOD_MAX_SIZE", default_value_t = 86400, value_parser = clap::value_parser!(u32).range(1..))]
    pub vod_max_size: u32,
    /// Segments per stream; reaching it ends the stream.
    #[arg(long, env = "HLS_FRAGMENT_COUNT_LIMIT", default_value_t = 16_777_216, value_parser = clap::value_parser!(u64).range(1..))]
    pub fragment_limit: u64,
    /// H.264 encoder (libx264, h264_nvenc, h264_vaapi, ...).
    #[arg(long, env = "HLS_VIDEO_CODEC", default_value = "libx264")]
    pub video_codec: String,
    /// Encoder preset for every rendition.
    #[arg(long, env = "HLS_H264_PRESET", default_value = "veryfast")]
    pub preset: String,
    /// Output pixel format.
    #[arg(long, env = "HLS_PIXEL_FORMAT", default_value = "yuv420p")]
    pub pixel_format: String,
    /// Encoder threads per rendition (0: the encoder decides).
    #[arg(long, env = "HLS_ENCODER_THREADS", default_value_t = 0)]
    pub encoder_threads: usize,
    /// Audio encoder.
    #[arg(long, env = "HLS_AUDIO_CODEC", default_value = "aac")]
    pub audio_codec: String,
    /// AAC bit rate, kbit/s.
    #[arg(long, env = "HLS_AUDIO_BITRATE_KBPS", default_value_t = 128)]
    pub audio_kbps: u32,
    /// Stream-Channel used in storage paths.
    #[arg(long, default_value = "test")]
    pub channel: String,
    /// Stream-ID used in storage paths.
    #[arg(long, default_value = "local")]
    pub stream_id: String,
    /// Stop after this many seconds of media.
    #[arg(long)]
    pub duration: Option<f64>,
    /// First media must arrive within this time; a silent source ends the stream after it.
    #[arg(long, env = "HLS_SOURCE_TIMEOUT_SECONDS", default_value_t = 30)]
    pub source_timeout: u64,
    /// Write master playlists.
    #[arg(long, env = "HLS_MASTER_PLAYLIST", value_parser = parse_bool, default_value = "YES")]
    pub master: bool,
    /// Give up storing a file after this many seconds of retries.
    #[arg(long, env = "HLS_STORAGE_RETRY_SECONDS", default_value_t = 30)]
    pub storage_retry: u64,
    /// Bound on bytes waiting for storage, MiB; beyond it segments are dropped.
    #[arg(long, env = "HLS_UPLOAD_QUEUE_MB", default_value_t = 256)]
    pub upload_queue_mb: usize,
    /// Event output.
    #[arg(long, value_enum, default_value = "human")]
    pub events: EventsArg,
    /// Forward libav's log at trace level.
    #[arg(long, env = "LOG_FFMPEG_TRACE", value_parser = parse_bool, default_value = "NO")]
    pub ffmpeg_trace: bool,
}

fn parse_previews(s: &str) -> Result<PreviewSpec, String> {
    PreviewSpec::parse(s).ok_or_else(|| format!("expected WxH,SECONDS like 256x144,5, got {s:?}"))
}

/// The validated job: everything the pipeline and publisher need.
pub struct Job {
    pub pipeline: PipelineConfig,
    pub publish: PublishSettings,
    pub out_dir: PathBuf,
    pub queue_bytes: usize,
}

impl TryFrom<TranscodeArgs> for Job {
    type Error = anyhow::Error;

    fn try_from(a: TranscodeArgs) -> anyhow::Result<Job> {
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
        let pixel_format: ffmpeg_next::format::Pixel = a.pixel_format.parse().map_err(|_| {
            anyhow::anyhow!("unknown pixel format {:?} (HLS_PIXEL_FORMAT); yuv420p is the usual one", a.pixel_format)
        })?;
        let audio_kbps = match &ladder {
            LadderChoice::Profile(p) if a.audio_kbps == 128 => p.audio_kbps(),
            _ => a.audio_kbps,
        };
        let max_media = match a.duration {
            Some(d) if d > 0.0 && d.is_finite() => Some(Duration::from_secs_f64(d)),
            Some(d) => anyhow::bail!("--duration must be a positive number of seconds, got {d}"),
            None => None,
        };
        let pipeline = PipelineConfig {
            source: Source::parse(&a.input),
            ladder,
            hls_time: a.hls_time,
            video: VideoSettings {
                codec: a.video_codec.clone(),
                preset: a.preset.clone(),
                pixel_format,
                threads: a.encoder_threads,
            },
            audio: AudioSettings { codec: a.audio_codec.clone(), bitrate_kbps: audio_kbps },
            previews: a.previews,
            source_timeout: Duration::from_secs(a.source_timeout.max(1)),
            max_media,
            max_segments: Some(a.fragment_limit),
            first_segment: 0,
            first_preview: 0,
        };
        let publish = PublishSettings {
            channel: a.channel,
            stream_id: a.stream_id,
            hls_time: a.hls_time,
            live_size: a.live_size,
            vod_max_size: a.vod_max_size,
            record: a.record,
            master: a.master,
            audio_kbps,
            previews: a.previews,
            retry: RetryPolicy { deadline: Duration::from_secs(a.storage_retry), ..RetryPolicy::default() },
            first_segment: 0,
            first_preview: 0,
            resume: None,
        };
        Ok(Job { pipeline, publish, out_dir: a.out_dir, queue_bytes: a.upload_queue_mb.max(1) << 20 })
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

pub fn run(args: TranscodeArgs) -> anyhow::Result<ExitCode> {
    crate::logging::set_libav_verbosity(args.ffmpeg_trace);
    ffmpeg_next::init().context("initialising FFmpeg")?;
    ffmpeg_next::device::register_all();
    let format = match args.events {
        EventsArg::Jsonl => EventFormat::Jsonl,
        EventsArg::Human => EventFormat::Human,
    };
    let job = Job::try_from(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let events = EventSink::new(format);
    let outcome = runtime.block_on(transcode(job, events.clone()))?;
    events.emit(&outcome.event());
    Ok(if outcome.error.is_some() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// How a transcode ended, as reported in the `closed` event.
pub struct Outcome {
    pub reason: Result<EndReason, PipelineError>,
    pub error: Option<ErrorCode>,
}

impl Outcome {
    pub fn event(&self) -> Event {
        let (reason, message) = match &self.reason {
            Ok(r) => (format!("{r:?}"), None),
            Err(e) => ("Failed".to_string(), Some(e.to_string())),
        };
        Event::Closed { reason, error_code: self.error, message }
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

async fn transcode(job: Job, events: EventSink) -> anyhow::Result<Outcome> {
    // Readable by the user's player and web server; worker mode uses the spec's modes.
    let storage = Arc::new(FsStorage::new(&job.out_dir, 0o755, 0o644, false));
    let budget = ByteBudget::new(job.queue_bytes);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let sink = Sink::new(tx, budget.clone());
    let watchdog = Watchdog::new(job.pipeline.source_timeout);

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
    let pipeline = std::thread::Builder::new()
        .name("reader".into())
        .spawn(move || {
            let result = pipeline::run(&config, &watchdog, &sink);
            drop(sink);
            result
        })
        .context("spawning the pipeline thread")?;
    let publisher = Publisher::new(job.publish, storage, budget, events);
    let summary = publisher.run(rx).await;
    let reason = tokio::task::spawn_blocking(move || pipeline.join())
        .await
        .context("joining the pipeline")?
        .unwrap_or_else(|_| Err(PipelineError::Panic("reader thread".into())));
    tracing::info!(
        published = summary.published,
        skipped = summary.skipped,
        previews = summary.previews,
        mbytes = summary.bytes / 1_000_000,
        "stream finished"
    );
    let error = error_code(&reason);
    Ok(Outcome { reason, error })
}
