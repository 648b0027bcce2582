//! Worker configuration (coordinator-protocol §11): the raw flags and environment become a
//! validated [`WorkerConfig`] once, at start-up.
//!
//! The spec's rules: an invalid number falls back to its default with a warning; an unusable
//! control URL, an unknown storage type or a missing storage setting stops the worker. We add
//! one rule of our own: anything that would make every job fail (an unknown encoder or pixel
//! format) also stops the worker at start-up, naming the variable, instead of failing jobs.

use std::fmt::Display;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;

use super::WorkerArgs;
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

/// Variables the `transcode` children read, with what a valid value is. An invalid one is
/// removed from the children's environment so they use the default (spec §11).
const CHILD_NUMBERS: &[(&str, u64, u64)] = &[
    ("HLS_TIME_SECONDS", 1, 60),
    ("HLS_LIVE_PLAYLIST_SIZE", 1, u32::MAX as u64),
    ("HLS_VOD_MAX_SIZE", 1, u32::MAX as u64),
    ("HLS_FRAGMENT_COUNT_LIMIT", 1, u64::MAX),
    ("HLS_ENCODER_THREADS", 0, 64),
    ("HLS_AUDIO_BITRATE_KBPS", 8, 512),
    ("HLS_SOURCE_TIMEOUT_SECONDS", 1, 86_400),
    ("HLS_STORAGE_RETRY_SECONDS", 0, 86_400),
    ("HLS_UPLOAD_QUEUE_MB", 1, 1 << 20),
];
/// (Storage variables are not here: the storage configuration applies the same rule itself.)
const CHILD_BOOLEANS: &[&str] = &["HLS_MASTER_PLAYLIST", "LOG_FFMPEG_TRACE", "HLS_SOURCE_TLS_VERIFY"];

impl WorkerConfig {
    /// Validates the flags and the environment seen through `env`.
    pub fn from_args(a: WorkerArgs, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<WorkerConfig> {
        let url = control_url(&a.control_base_url, a.keep_path).context("CONTROL_BASE_URL")?;
        let capacity = number("SERVER_CAPACITY", &a.server_capacity, -1i32, |_| true);
        if capacity == 0 {
            tracing::warn!("SERVER_CAPACITY=0: the coordinator will never assign a job here (-1 means unlimited)");
        }
        let seconds = |name: &str, raw: &str, default: u64| Duration::from_secs(number(name, raw, default, |_| true));
        let table = TableConfig {
            capacity,
            stop_grace: seconds("HLS_STOP_GRACE_SECONDS", &a.stop_grace, 30),
            finalize_timeout: seconds("HLS_FINALIZE_TIMEOUT_SECONDS", &a.finalize_timeout, 10),
            restart_max: number("HLS_RESTART_MAX", &a.restart_max, 3u32, |_| true),
            shutdown_timeout: seconds("HLS_SHUTDOWN_TIMEOUT_SECONDS", &a.shutdown_timeout, 30),
        };
        let stall = StallPolicy {
            timeout: Duration::from_secs(number("HLS_STALL_TIMEOUT_SECONDS", &a.stall_timeout, 20u64, |&s| s >= 1)),
            source_timeout: Duration::from_secs(number("HLS_SOURCE_TIMEOUT_SECONDS", &a.source_timeout, 30u64, |&s| {
                s >= 1
            })),
        };
        StorageConfig::from_env(&env).and_then(|s| s.build())?;
        check_media_settings(&env)?;
        let exe = std::env::current_exe().context("locating this program to run jobs with")?;
        let children = ChildConfig { exe, env_remove: invalid_child_settings(&env), stall };
        Ok(WorkerConfig { session: SessionConfig::new(url, a.control_secret), table, children })
    }
}

/// `raw` as a number, or `default` with a warning naming the variable.
fn number<T: FromStr + Display + Copy>(name: &str, raw: &str, default: T, valid: impl Fn(&T) -> bool) -> T {
    match raw.trim().parse::<T>() {
        Ok(v) if valid(&v) => v,
        _ => {
            tracing::warn!("{name}={raw:?} is not a valid value; using the default {default}");
            default
        }
    }
}

/// The children's settings that are set but invalid; each is logged once, here.
fn invalid_child_settings(env: &impl Fn(&str) -> Option<String>) -> Vec<String> {
    let mut invalid = Vec::new();
    for &(name, min, max) in CHILD_NUMBERS {
        let Some(raw) = env(name) else { continue };
        if !raw.trim().parse::<u64>().is_ok_and(|v| (min..=max).contains(&v)) {
            tracing::warn!("{name}={raw:?} is not a number in {min}..={max}; jobs use the default");
            invalid.push(name.to_string());
        }
    }
    for &name in CHILD_BOOLEANS {
        let Some(raw) = env(name) else { continue };
        if crate::cli::parse_bool(&raw).is_err() {
            tracing::warn!("{name}={raw:?} is not YES or NO; jobs use the default");
            invalid.push(name.to_string());
        }
    }
    invalid
}

/// Encoders and pixel format exist in this FFmpeg build: otherwise every job would fail.
fn check_media_settings(env: &impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
    ffmpeg_next::init().context("initialising FFmpeg")?;
    for (name, default) in [("HLS_VIDEO_CODEC", "libx264"), ("HLS_AUDIO_CODEC", "aac")] {
        let codec = env(name).unwrap_or_else(|| default.to_string());
        anyhow::ensure!(
            ffmpeg_next::encoder::find_by_name(&codec).is_some(),
            "{name}={codec:?}: this FFmpeg build has no such encoder (see `ffmpeg -encoders`)"
        );
    }
    let pixel = env("HLS_PIXEL_FORMAT").unwrap_or_else(|| "yuv420p".into());
    anyhow::ensure!(
        pixel.parse::<ffmpeg_next::format::Pixel>().is_ok(),
        "HLS_PIXEL_FORMAT={pixel:?} is not a pixel format FFmpeg knows; yuv420p is the usual one"
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
    fn invalid_numbers_fall_back_to_defaults() {
        assert_eq!(number("SERVER_CAPACITY", "4", -1i32, |_| true), 4);
        assert_eq!(number("SERVER_CAPACITY", "lots", -1i32, |_| true), -1);
        assert_eq!(number("SERVER_CAPACITY", "99999999999", -1i32, |_| true), -1, "not an int32");
        assert_eq!(number("HLS_STALL_TIMEOUT_SECONDS", "0", 20u64, |&s| s >= 1), 20);
    }

    #[test]
    fn invalid_child_settings_are_removed_from_the_childs_environment() {
        let env = |k: &str| match k {
            "HLS_TIME_SECONDS" => Some("abc".to_string()),
            "HLS_LIVE_PLAYLIST_SIZE" => Some("0".to_string()),
            "HLS_VOD_MAX_SIZE" => Some("5".to_string()),
            "HLS_MASTER_PLAYLIST" => Some("maybe".to_string()),
            "LOG_FFMPEG_TRACE" => Some("no".to_string()),
            _ => None,
        };
        assert_eq!(invalid_child_settings(&env), ["HLS_TIME_SECONDS", "HLS_LIVE_PLAYLIST_SIZE", "HLS_MASTER_PLAYLIST"]);
    }

    #[test]
    fn media_settings_that_would_fail_every_job_are_fatal() {
        assert!(check_media_settings(&|_: &str| None).is_ok());
        let err = check_media_settings(&|k: &str| (k == "HLS_VIDEO_CODEC").then(|| "h264_nope".to_string()));
        assert!(err.unwrap_err().to_string().contains("HLS_VIDEO_CODEC"));
        let err = check_media_settings(&|k: &str| (k == "HLS_PIXEL_FORMAT").then(|| "nonsense".to_string()));
        assert!(err.unwrap_err().to_string().contains("HLS_PIXEL_FORMAT"));
    }
}
