//! `transcode`'s arguments, and the job document a run by hand builds from them: the same
//! [`ChildJob`] a worker sends its children, so both run exactly the same code.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, ValueEnum};

use crate::child_protocol::{ChildJob, EncodeSettings};
use crate::config::{parse_bool, JobSettings};
use crate::control::message::validate_id;
use crate::ladder::{self, Profile};
use crate::pipeline::preview::PreviewSpec;
use crate::pipeline::source::Source;
use crate::pipeline::LadderChoice;
use crate::storage::StorageConfig;

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
    /// Run a job document (what `worker` sends each child): JSON in FILE, or `-` for the first
    /// line of stdin, after which stdin takes `stop` and `shed LABEL` lines (EOF also stops).
    /// Every setting then comes from the document, none from flags or the environment.
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
    pub metrics_addr: Option<SocketAddr>,
    /// Serve OUT_DIR over HTTP on ADDR (e.g. 127.0.0.1:8080) while the stream is produced:
    /// the stream list and player page of `hls-ladder serve`. Stops when the transcode ends.
    #[arg(long, value_name = "ADDR")]
    pub serve: Option<SocketAddr>,
    /// Read the input at its own pace, as `ffmpeg -re` does: media time never runs ahead of
    /// wall time since the first frame. Default: YES for testsrc with --serve, NO otherwise.
    #[arg(long, value_name = "YES|NO", value_parser = parse_bool, action = clap::ArgAction::Set,
        num_args = 0..=1, default_missing_value = "YES")]
    pub realtime: Option<bool>,
    /// How the stream is encoded and published (shared with `worker`). Last: its CDN group
    /// has a help heading of its own.
    #[command(flatten)]
    pub settings: JobSettings,
}

fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    s.parse().map_err(|_| format!("expected an IP address and port like 127.0.0.1:9091, got {s:?}"))
}

fn parse_previews(s: &str) -> Result<PreviewSpec, String> {
    PreviewSpec::parse(s).ok_or_else(|| format!("expected WxH,SECONDS like 256x144,5, got {s:?}"))
}

impl TranscodeArgs {
    /// `transcode INPUT OUT_DIR`: the job document of a run by hand, into a filesystem
    /// directory readable by the user's player. Everything is validated here, once.
    pub fn to_document(&self) -> anyhow::Result<ChildJob> {
        let settings = EncodeSettings::try_from(&self.settings)?;
        anyhow::ensure!(
            validate_id(&self.channel),
            "--channel must match [A-Za-z0-9_-]{{1,128}}, got {:?}",
            self.channel
        );
        anyhow::ensure!(
            validate_id(&self.stream_id),
            "--stream-id must match [A-Za-z0-9_-]{{1,128}}, got {:?}",
            self.stream_id
        );
        let ladder = match &self.resolutions {
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
            None => LadderChoice::Profile(self.load_profile()?),
        };
        let max_media = match self.duration {
            Some(d) if d > 0.0 && d.is_finite() => Some(Duration::from_secs_f64(d)),
            Some(d) => anyhow::bail!("--duration must be a positive number of seconds, got {d}"),
            None => None,
        };
        let source = Source::parse(self.input.as_deref().unwrap_or_default(), &settings.source_tls);
        // Served live, the test source plays like a live stream (a sliding window).
        let realtime = self.realtime.unwrap_or(self.serve.is_some() && source == Source::TestSrc);
        let root = self.out_dir.clone().unwrap_or_default();
        Ok(ChildJob {
            channel: self.channel.clone(),
            stream_id: self.stream_id.clone(),
            source,
            ladder,
            record: self.record,
            previews: self.previews,
            cdn: self.settings.cdn.to_config()?,
            settings,
            storage: StorageConfig::Filesystem { root, dir_mode: 0o755, file_mode: 0o644, fsync: false },
            max_media,
            realtime,
            resume: None,
        })
    }

    fn load_profile(&self) -> anyhow::Result<Profile> {
        let file = self.profiles_dir.join(format!("{}.toml", self.profile));
        if file.exists() {
            return Profile::load(&self.profiles_dir, &self.profile)
                .with_context(|| format!("loading profile {}", file.display()));
        }
        anyhow::ensure!(self.profile == "default", "profile {:?} not found: no file {}", self.profile, file.display());
        Ok(Profile::default_builtin())
    }
}
