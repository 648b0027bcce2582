//! What one transcode runs: its arguments (a by-hand run, or a worker's job document) and
//! the validated settings turned into the pipeline's and the publisher's configuration.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use super::TranscodeArgs;
use crate::cdn::CdnConfig;
use crate::child_protocol::{ChildJob, JobSpec, Resume, SourceKind};
use crate::config::EncodeSettings;
use crate::control::message::validate_id;
use crate::ladder::{self, Profile, RequestItem};
use crate::pipeline::clock::Q;
use crate::pipeline::input::Source;
use crate::pipeline::preview::PreviewSpec;
use crate::pipeline::{LadderChoice, PipelineConfig};
use crate::publisher::PublishSettings;
use crate::storage::{Counted, FsStorage, RetryPolicy, StorageConfig};

/// A restarted run starts this long after the last published group ended: that group's
/// last audio frame may reach up to one AAC frame (1024 samples, 23.2 ms at 44.1 kHz) past
/// its video, and audio timestamps must not go back at the seam either.
const SEAM_MARGIN: Q = Q::new_raw(1, 40);

/// The validated job: everything the pipeline and publisher need.
pub struct Job {
    pub pipeline: PipelineConfig,
    pub publish: PublishSettings,
    /// The backend, counting its requests for the `stats` event.
    pub storage: Arc<Counted>,
    pub queue_bytes: usize,
    /// How long a finished pipeline's last uploads may take before they are cancelled.
    pub drain: Duration,
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
    storage: Arc<Counted>,
    cdn: Option<CdnConfig>,
    realtime: bool,
}

impl Job {
    /// `transcode INPUT OUT_DIR`: a filesystem directory readable by the user's player.
    pub fn from_cli(a: TranscodeArgs, settings: &EncodeSettings) -> anyhow::Result<Job> {
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
        let source = Source::parse(&input, &settings.source_tls);
        // Served live, the test source plays like a live stream (a sliding window).
        let realtime = a.realtime.unwrap_or(a.serve.is_some() && source == Source::TestSrc);
        let target = Target {
            source,
            ladder,
            channel: a.channel.clone(),
            stream_id: a.stream_id.clone(),
            record: a.record,
            previews: a.previews,
            max_media,
            resume: None,
            cdn: CdnConfig::from_env(|k| std::env::var(k).ok())?,
            storage: Counted::new(Arc::new(FsStorage::new(out_dir, 0o755, 0o644, false)), "filesystem"),
            realtime,
        };
        Ok(Job::assemble(settings, target))
    }

    /// `transcode --job`: a job the worker validated (spec §5), storage from the environment.
    pub fn from_child_job(job: ChildJob, settings: &EncodeSettings) -> anyhow::Result<Job> {
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
        let config = StorageConfig::from_env(|k| std::env::var(k).ok()).context("configuring storage")?;
        let storage = Counted::new(config.build().context("configuring storage")?, config.backend());
        let target = Target {
            source: Source::parse(&job_source_url(&spec), &settings.source_tls),
            ladder,
            channel: spec.channel,
            stream_id: spec.stream_id,
            record: spec.record,
            previews: spec.previews,
            max_media: None,
            resume: job.resume,
            storage,
            cdn: CdnConfig::from_env(|k| std::env::var(k).ok())?,
            realtime: false,
        };
        Ok(Job::assemble(settings, target))
    }

    fn assemble(s: &EncodeSettings, t: Target) -> Job {
        let mut audio = s.audio.clone();
        if let LadderChoice::Profile(p) = &t.ladder {
            // The profile's audio rate, unless the setting was changed from its default.
            if audio.bitrate_kbps == 128 {
                audio.bitrate_kbps = p.audio_kbps();
            }
        }
        let first_segment = t.resume.as_ref().map_or(0, |r| r.next_segment);
        let first_preview = t.resume.as_ref().map_or(0, |r| r.next_preview);
        let timeline_offset = t.resume.as_ref().map_or(Q::from_integer(0), |r| r.timeline_end + SEAM_MARGIN);
        let live = t.source.is_live();
        let pipeline = PipelineConfig {
            source: t.source,
            ladder: t.ladder,
            hls_time: s.hls_time,
            video: s.video.clone(),
            audio: audio.clone(),
            original_mode: s.original_mode,
            previews: t.previews,
            source_timeout: s.source_timeout,
            max_media: t.max_media,
            // The limit counts the stream's segments, earlier runs included (output-layout §10).
            max_segments: Some(s.fragment_limit.saturating_sub(first_segment)),
            first_segment,
            first_preview,
            timeline_offset,
            stats: crate::pipeline::stats::PipelineStats::emulating(s.emulated_load),
            // Only a live network source has an edge to fall behind; a file is read at
            // the pipeline's pace.
            live,
            drop_behind: s.drop_behind,
            realtime: t.realtime,
        };
        let publish = PublishSettings {
            channel: t.channel,
            stream_id: t.stream_id,
            hls_time: s.hls_time,
            live_size: s.live_size,
            vod_max_size: s.vod_max_size,
            record: t.record,
            master: s.master,
            audio_kbps: audio.bitrate_kbps,
            previews: t.previews,
            retry: RetryPolicy { deadline: s.storage_retry, ..RetryPolicy::default() },
            first_segment,
            first_preview,
            resume: t.resume.and_then(|r| r.state),
            cdn: t.cdn.map(Arc::new),
            timeline_offset,
        };
        Job { pipeline, publish, storage: t.storage, queue_bytes: s.upload_queue_bytes, drain: s.storage_retry }
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
