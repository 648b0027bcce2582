//! Worker configuration (coordinator-protocol §11): the raw flags and environment become a
//! validated [`WorkerConfig`] once, at start-up.
//!
//! The spec's rules: an invalid number falls back to its default with a warning (done before
//! parsing, [`crate::cli::drop_invalid_env`]); an unusable control URL, an unknown storage
//! type or a missing storage setting stops the worker. We add one rule of our own: anything
//! that would make every job fail (an unknown encoder or pixel format) also stops the worker
//! at start-up, naming the variable, instead of failing every job.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;

use super::WorkerArgs;
use crate::cli::JobSettings;
use crate::control::session::SessionConfig;
use crate::control::url::control_url;
use crate::storage::StorageConfig;
use crate::supervisor::{ChildConfig, StallPolicy, TableConfig};

/// Everything `worker` runs with.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub session: SessionConfig,
    pub table: TableConfig,
    pub children: ChildConfig,
}

impl WorkerConfig {
    /// Validates the flags (and, for storage, the environment seen through `env`).
    pub fn from_args(a: WorkerArgs, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<WorkerConfig> {
        let url = control_url(&a.control_base_url, a.keep_path).context("CONTROL_BASE_URL")?;
        if a.server_capacity == 0 {
            tracing::warn!("SERVER_CAPACITY=0: the coordinator will never assign a job here (-1 means unlimited)");
        }
        let table = TableConfig {
            capacity: a.server_capacity,
            stop_grace: Duration::from_secs(a.stop_grace),
            finalize_timeout: Duration::from_secs(a.finalize_timeout),
            restart_max: a.restart_max,
            shutdown_timeout: Duration::from_secs(a.shutdown_timeout),
        };
        let stall = StallPolicy {
            timeout: Duration::from_secs(a.stall_timeout),
            source_timeout: Duration::from_secs(a.settings.source_timeout.max(1)),
        };
        if env("HLS_WS_CDN_ENABLED").is_some_and(|v| crate::cli::parse_bool(&v) == Ok(true)) {
            tracing::warn!(
                "HLS_WS_CDN_ENABLED=YES: this version does not push to an HLS WebSocket CDN yet; \
                 segments go to storage only"
            );
        }
        let storage = StorageConfig::from_env(&env).and_then(|s| s.build())?;
        check_media_settings(&a.settings)?;
        tracing::info!(capacity = a.server_capacity, storage = %storage.describe(), hls_time = a.settings.hls_time,
            codec = %a.settings.video_codec, preset = %a.settings.effective_preset(), "worker configuration");
        let exe = std::env::current_exe().context("locating this program to run jobs with")?;
        let children = ChildConfig { exe, args: a.settings.to_args(), stall };
        Ok(WorkerConfig { session: SessionConfig::new(url, a.control_secret), table, children })
    }
}

/// Encoders and pixel format exist in this FFmpeg build: otherwise every job would fail.
fn check_media_settings(s: &JobSettings) -> anyhow::Result<()> {
    ffmpeg_next::init().context("initialising FFmpeg")?;
    for (name, codec) in [("HLS_VIDEO_CODEC", &s.video_codec), ("HLS_AUDIO_CODEC", &s.audio_codec)] {
        anyhow::ensure!(
            ffmpeg_next::encoder::find_by_name(codec).is_some(),
            "{name}={codec:?}: this FFmpeg build has no such encoder (see `ffmpeg -encoders`)"
        );
    }
    anyhow::ensure!(
        s.pixel_format.parse::<ffmpeg_next::format::Pixel>().is_ok(),
        "HLS_PIXEL_FORMAT={:?} is not a pixel format FFmpeg knows; yuv420p is the usual one",
        s.pixel_format
    );
    Ok(())
}

/// Loads `KEY=VALUE` lines from `path` into the environment without overriding variables
/// already set (spec §11). A missing file is not an error. Returns how many were set.
pub fn load_dotenv(path: &Path) -> anyhow::Result<usize> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut set = 0;
    for (number, line) in text.lines().enumerate() {
        match parse_dotenv_line(line) {
            Ok(None) => {}
            Ok(Some((key, value))) => {
                if std::env::var_os(key).is_none() {
                    std::env::set_var(key, value);
                    set += 1;
                }
            }
            Err(why) => anyhow::bail!("{}:{}: {why}", path.display(), number + 1),
        }
    }
    Ok(set)
}

/// One `.env` line: blank and `#` lines are nothing; `export ` is allowed; a value may be
/// quoted with `"` or `'` (kept verbatim inside), otherwise it ends at ` #`.
fn parse_dotenv_line(line: &str) -> Result<Option<(&str, &str)>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let line = line.strip_prefix("export ").unwrap_or(line);
    let (key, value) = line.split_once('=').ok_or("expected KEY=VALUE")?;
    let key = key.trim();
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(format!("{key:?} is not a variable name"));
    }
    let value = value.trim();
    for quote in ['"', '\''] {
        if let Some(inner) = value.strip_prefix(quote) {
            let inner = inner.strip_suffix(quote).ok_or("unterminated quote")?;
            return Ok(Some((key, inner)));
        }
    }
    let value = value.split_once(" #").map_or(value, |(v, _)| v).trim_end();
    Ok(Some((key, value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_lines_follow_the_usual_conventions() {
        assert_eq!(parse_dotenv_line("CONTROL_BASE_URL=ws://c:8080"), Ok(Some(("CONTROL_BASE_URL", "ws://c:8080"))));
        assert_eq!(parse_dotenv_line("export SERVER_CAPACITY = 4 # per host"), Ok(Some(("SERVER_CAPACITY", "4"))));
        assert_eq!(parse_dotenv_line("CONTROL_SECRET=\"a b#c\""), Ok(Some(("CONTROL_SECRET", "a b#c"))));
        assert_eq!(parse_dotenv_line("X='y'"), Ok(Some(("X", "y"))));
        assert_eq!(parse_dotenv_line("EMPTY="), Ok(Some(("EMPTY", ""))));
        assert_eq!(parse_dotenv_line("  # comment"), Ok(None));
        assert_eq!(parse_dotenv_line(""), Ok(None));
        assert!(parse_dotenv_line("no equals sign").is_err());
        assert!(parse_dotenv_line("BAD-NAME=1").is_err());
        assert!(parse_dotenv_line("X=\"open").is_err());
    }

    #[test]
    fn dotenv_never_overrides_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(".env");
        std::env::set_var("HLS_LADDER_TEST_DOTENV_SET", "from-env");
        std::fs::write(&file, "HLS_LADDER_TEST_DOTENV_SET=from-file\nHLS_LADDER_TEST_DOTENV_NEW=new\n").unwrap();
        assert_eq!(load_dotenv(&file).unwrap(), 1);
        assert_eq!(std::env::var("HLS_LADDER_TEST_DOTENV_SET").unwrap(), "from-env");
        assert_eq!(std::env::var("HLS_LADDER_TEST_DOTENV_NEW").unwrap(), "new");
        assert_eq!(load_dotenv(&dir.path().join("missing")).unwrap(), 0);
    }

    #[test]
    fn media_settings_that_would_fail_every_job_are_fatal() {
        #[derive(clap::Parser)]
        struct Flags {
            #[command(flatten)]
            settings: JobSettings,
        }
        let settings = |args: &[&str]| {
            <Flags as clap::Parser>::parse_from(std::iter::once("x").chain(args.iter().copied())).settings
        };
        assert!(check_media_settings(&settings(&[])).is_ok());
        let err = check_media_settings(&settings(&["--video-codec", "h264_nope"])).unwrap_err();
        assert!(err.to_string().contains("HLS_VIDEO_CODEC"), "{err}");
        let err = check_media_settings(&settings(&["--pixel-format", "nonsense"])).unwrap_err();
        assert!(err.to_string().contains("HLS_PIXEL_FORMAT"), "{err}");
    }
}
