//! The worker's settings: [`WorkerArgs`] as flags and environment, [`WorkerConfig`] once
//! validated at start-up.
//!
//! The spec's rules (coordinator-protocol §11): an invalid number falls back to its default
//! with a warning ([`super::env::invalid_env`]); an unusable control URL, an unknown storage
//! type or a missing storage setting stops the worker. We add one rule of our own: anything
//! that would make every job fail (an unknown encoder or pixel format) also stops the worker
//! at start-up, naming the variable, instead of failing every job.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;

use super::{parse_bool, EncodeSettings, JobSettings};
use crate::control::session::SessionConfig;
use crate::control::url::control_url;
use crate::storage::StorageConfig;
use crate::supervisor::janitor::CleanupConfig;
use crate::supervisor::overload::OverloadPolicy;
use crate::supervisor::{ChildConfig, StallPolicy, TableConfig};

/// The worker's flags. An invalid value in the environment falls back to the default with a
/// warning; an invalid flag is an error.
#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    /// Coordinator base URL (ws, wss; http and https as aliases). The path becomes /ws/control/hls.
    #[arg(long, env = "CONTROL_BASE_URL")]
    pub control_base_url: String,
    /// Secret for the control token (HS256); empty sends no token.
    #[arg(long, env = "CONTROL_SECRET", default_value = "", hide_env_values = true)]
    pub control_secret: String,
    /// Keep the base URL's path prefix (a reverse proxy that strips it).
    #[arg(long = "control-url-keep-path", env = "CONTROL_URL_KEEP_PATH", value_parser = parse_bool,
        action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "YES", default_value = "NO")]
    pub keep_path: bool,
    /// Concurrent jobs: -1 unlimited, 0 never assigned, or `auto`: measure this machine at
    /// start-up and admit jobs by the CPU their ladders need.
    #[arg(long, env = "SERVER_CAPACITY", default_value = "-1", allow_negative_numbers = true, value_parser = parse_capacity)]
    pub server_capacity: Capacity,
    /// With SERVER_CAPACITY=auto: the cores jobs may use (e.g. 6 on an 8-core machine that
    /// also runs the ingest server); 0: every core this process may use.
    #[arg(long, env = "HLS_CAPACITY_CORES", default_value_t = 0.0, value_parser = parse_cores)]
    pub capacity_cores: f64,
    /// Grace after an ENCODE-STOP without Grace-Period, seconds.
    #[arg(long, env = "HLS_STOP_GRACE_SECONDS", default_value_t = 30)]
    pub stop_grace: u64,
    /// Longest time from a job's end to its STREAM-CLOSED, seconds.
    #[arg(long, env = "HLS_FINALIZE_TIMEOUT_SECONDS", default_value_t = 10)]
    pub finalize_timeout: u64,
    /// On SIGTERM/SIGINT, how long jobs may run on before they are stopped, seconds.
    #[arg(long, env = "HLS_SHUTDOWN_TIMEOUT_SECONDS", default_value_t = 30)]
    pub shutdown_timeout: u64,
    /// Pipeline restarts per job in any 10 minutes.
    #[arg(long, env = "HLS_RESTART_MAX", default_value_t = 3)]
    pub restart_max: u32,
    /// A pipeline with input but no output for this long is restarted, seconds.
    #[arg(long, env = "HLS_STALL_TIMEOUT_SECONDS", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub stall_timeout: u64,
    /// A job behind real time for this long sheds at once the renditions whose measured cost
    /// covers its deficit (most expensive first; docs/overload.md), seconds.
    #[arg(long, env = "HLS_OVERLOAD_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub overload_seconds: u64,
    /// After an overload, how long every job must keep up before capacity is offered again,
    /// seconds.
    #[arg(long, env = "HLS_OVERLOAD_RECOVER_SECONDS", default_value_t = 30)]
    pub overload_recover_seconds: u64,
    /// Delete a Record False stream's files (live playlists, segments, master, previews)
    /// HLS_CLEANUP_DELAY_SECONDS after its STREAM-CLOSED. Recordings are never deleted.
    #[arg(long, env = "HLS_CLEANUP_AFTER_END", value_parser = parse_bool, action = clap::ArgAction::Set, default_value = "NO")]
    pub cleanup_after_end: bool,
    /// Delay before that cleanup, seconds (players may still be reading the end).
    #[arg(long, env = "HLS_CLEANUP_DELAY_SECONDS", default_value_t = 60)]
    pub cleanup_delay: u64,
    /// Listen address of the metrics and health endpoint (/metrics, /healthz, /readyz),
    /// e.g. 0.0.0.0:9090; empty: off.
    #[arg(long, env = "METRICS_ADDR", default_value = "")]
    pub metrics_addr: String,
    /// What every job does; passed to each job's process as flags.
    #[command(flatten)]
    pub settings: JobSettings,
}

impl WorkerArgs {
    /// The job table's part of the settings.
    pub fn table(&self) -> TableConfig {
        TableConfig {
            capacity: match self.server_capacity {
                Capacity::Jobs(n) => n,
                // Admission is by the budget; the count is not used.
                Capacity::Auto => -1,
            },
            stop_grace: Duration::from_secs(self.stop_grace),
            finalize_timeout: Duration::from_secs(self.finalize_timeout),
            restart_max: self.restart_max,
            shutdown_timeout: Duration::from_secs(self.shutdown_timeout),
        }
    }
}

/// Everything `worker` runs with.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub session: SessionConfig,
    pub table: TableConfig,
    pub children: ChildConfig,
    /// Where to serve metrics and health; `None`: not served.
    pub metrics_addr: Option<SocketAddr>,
    /// End-of-stream cleanup; `None`: files stay.
    pub cleanup: Option<CleanupConfig>,
    pub overload: OverloadPolicy,
    /// `SERVER_CAPACITY=auto`: measure at start-up, admit by CPU budget; the cores jobs may use.
    pub auto_capacity: Option<f64>,
}

/// `SERVER_CAPACITY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capacity {
    /// At most this many jobs; -1 unlimited.
    Jobs(i32),
    /// By measured CPU budget.
    Auto,
}

impl std::fmt::Display for Capacity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Capacity::Jobs(n) => write!(f, "{n}"),
            Capacity::Auto => f.write_str("auto"),
        }
    }
}

fn parse_cores(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(c) if c.is_finite() && (0.0..=4096.0).contains(&c) => Ok(c),
        _ => Err(format!("expected a number of cores like 6 or 1.5 (0: all), got {s:?}")),
    }
}

fn parse_capacity(s: &str) -> Result<Capacity, String> {
    if s.trim().eq_ignore_ascii_case("auto") {
        return Ok(Capacity::Auto);
    }
    match s.trim().parse::<i32>() {
        Ok(n) if n >= -1 => Ok(Capacity::Jobs(n)),
        _ => Err(format!("expected a number of jobs (-1 unlimited) or auto, got {s:?}")),
    }
}

impl WorkerConfig {
    /// Validates the flags (and, for storage, the environment seen through `env`).
    pub fn from_args(a: WorkerArgs, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<WorkerConfig> {
        let url = control_url(&a.control_base_url, a.keep_path).context("CONTROL_BASE_URL")?;
        let metrics_addr = parse_listen_addr(&a.metrics_addr).context("METRICS_ADDR")?;
        if a.server_capacity == Capacity::Jobs(0) {
            tracing::warn!("SERVER_CAPACITY=0: the coordinator will never assign a job here (-1 means unlimited)");
        }
        // Each child reads these itself (the push secret stays off command lines); checked
        // here so that a bad URL stops the worker at start-up instead of failing every job.
        let cdn = super::CdnConfig::from_env(&env)?;
        let storage_config = StorageConfig::from_env(&env)?;
        let storage = storage_config.build()?;
        // Checked here although each child converts its flags again: a setting that would
        // fail every job stops the worker at start-up instead.
        let encode = EncodeSettings::try_from(&a.settings)?;
        let stall =
            StallPolicy { timeout: Duration::from_secs(a.stall_timeout), source_timeout: encode.source_timeout };
        let metrics = metrics_addr.map_or("off".to_string(), |a| a.to_string());
        let cleanup = if a.cleanup_after_end { format!("after {} s", a.cleanup_delay) } else { "off".into() };
        let cdn = cdn.map_or("off".to_string(), |c| c.urls.join(" "));
        tracing::info!(capacity = %a.server_capacity, storage = %storage.describe(), hls_time = encode.hls_time,
            codec = %encode.video.encoder.name, preset = %encode.video.preset, %metrics, %cleanup, %cdn, "worker configuration");
        let exe = std::env::current_exe().context("locating this program to run jobs with")?;
        let children = ChildConfig { exe, args: a.settings.to_args(), stall };
        let session = SessionConfig::new(url, a.control_secret.clone());
        let cleanup = a.cleanup_after_end.then(|| CleanupConfig {
            storage,
            backend: storage_config.backend(),
            delay: Duration::from_secs(a.cleanup_delay),
        });
        let overload = OverloadPolicy {
            after: Duration::from_secs(a.overload_seconds),
            recover: Duration::from_secs(a.overload_recover_seconds),
        };
        let auto_capacity = (a.server_capacity == Capacity::Auto).then_some(a.capacity_cores).map(|c| {
            let all = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
            if c > 0.0 {
                c
            } else {
                all
            }
        });
        Ok(WorkerConfig { session, table: a.table(), children, metrics_addr, cleanup, overload, auto_capacity })
    }
}

/// `host:port` to listen on (`0.0.0.0:9090`, `[::]:9090`, `127.0.0.1:9090`); empty is `None`.
pub fn parse_listen_addr(text: &str) -> anyhow::Result<Option<SocketAddr>> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let addr = text.parse().map_err(|_| anyhow::anyhow!("{text:?} is not an IP address and port like 0.0.0.0:9090"))?;
    Ok(Some(addr))
}

/// The job table's settings at their defaults, for the table's own tests: the defaults live
/// in the flags above and nowhere else.
#[cfg(test)]
pub fn default_table_config() -> TableConfig {
    use clap::Parser;
    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        worker: WorkerArgs,
    }
    Flags::parse_from(["x", "--control-base-url", "ws://127.0.0.1:1"]).worker.table()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metrics_address_is_off_when_empty_and_must_be_ip_and_port() {
        assert_eq!(parse_listen_addr("").unwrap(), None);
        assert_eq!(parse_listen_addr("0.0.0.0:9090").unwrap(), Some("0.0.0.0:9090".parse().unwrap()));
        assert_eq!(parse_listen_addr("[::]:9090").unwrap(), Some("[::]:9090".parse().unwrap()));
        assert!(parse_listen_addr("localhost:9090").is_err());
        assert!(parse_listen_addr(":9090").is_err());
    }

    #[test]
    fn the_table_defaults_are_the_specs() {
        let t = default_table_config();
        if std::env::var_os("SERVER_CAPACITY").is_none() && std::env::var_os("HLS_RESTART_MAX").is_none() {
            assert_eq!((t.capacity, t.restart_max), (-1, 3));
        }
        if std::env::var_os("HLS_FINALIZE_TIMEOUT_SECONDS").is_none() {
            assert_eq!(t.finalize_timeout, Duration::from_secs(10));
        }
    }
}
