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

use super::env::parse_bool;
use super::job::JobSettings;
use super::storage::StorageArgs;
use crate::child_protocol::{EncodeSettings, JobDefaults};
use crate::control::session::SessionConfig;
use crate::control::url::control_url;
use crate::supervisor::janitor::CleanupConfig;
use crate::supervisor::overload::OverloadPolicy;
use crate::supervisor::{Capacity, ChildConfig, StallPolicy, TableConfig};

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
    /// Words put before this program when the worker starts a job's `transcode` process, e.g.
    /// `nice -n 5`, or `qemu-aarch64 -L /` for a worker that itself runs under user-mode
    /// emulation without binfmt_misc (the kernel cannot start the ARM child on its own then).
    /// Split on whitespace, no shell; empty: none. The wrapper must exec the program in its
    /// own process (as nice, taskset and qemu do): the worker watches the child's pid.
    #[arg(long, env = "HLS_TRANSCODE_WRAPPER", default_value = "")]
    pub transcode_wrapper: String,
    /// What every job does; validated once and sent to each job's process in its document.
    #[command(flatten)]
    pub settings: JobSettings,
    #[command(flatten)]
    pub storage: StorageArgs,
}

impl WorkerArgs {
    /// The job table's part of the settings.
    pub fn table(&self) -> TableConfig {
        TableConfig {
            capacity: self.server_capacity,
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
    /// The cores jobs may use (`HLS_CAPACITY_CORES`, 0 resolved to every core): the budget
    /// `SERVER_CAPACITY=auto` admits by.
    pub capacity_cores: f64,
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
        Ok(n) if n >= -1 => Ok(Capacity::jobs(n)),
        _ => Err(format!("expected a number of jobs (-1 unlimited) or auto, got {s:?}")),
    }
}

impl WorkerConfig {
    /// Validates the flags; `env` supplies only the object stores' own standard variables
    /// (`AWS_SESSION_TOKEN`, `AZURE_STORAGE_ACCOUNT_KEY`, ...), which are not flags of ours.
    pub fn from_args(a: WorkerArgs, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<WorkerConfig> {
        let url = control_url(&a.control_base_url, a.keep_path).context("CONTROL_BASE_URL")?;
        let metrics_addr = parse_listen_addr(&a.metrics_addr).context("METRICS_ADDR")?;
        if a.server_capacity == Capacity::Jobs(0) {
            tracing::warn!("SERVER_CAPACITY=0: the coordinator will never assign a job here (-1 means unlimited)");
        }
        // Validated once, here: a setting that would fail every job stops the worker at
        // start-up instead. Each child gets the result in its job document.
        let cdn = a.settings.cdn.to_config()?;
        let storage_config = a.storage.to_config(&env)?;
        let storage = storage_config.build()?;
        let encode = EncodeSettings::try_from(&a.settings)?;
        let stall =
            StallPolicy { timeout: Duration::from_secs(a.stall_timeout), source_timeout: encode.source_timeout };
        let metrics = metrics_addr.map_or("off".to_string(), |a| a.to_string());
        let cleanup = if a.cleanup_after_end { format!("after {} s", a.cleanup_delay) } else { "off".into() };
        let cdn_urls = cdn.as_ref().map_or("off".to_string(), |c| c.urls.join(" "));
        tracing::info!(capacity = %a.server_capacity, storage = %storage.describe(), hls_time = encode.hls_time,
            codec = %encode.video.encoder.name, preset = %encode.video.preset, %metrics, %cleanup, cdn = %cdn_urls, "worker configuration");
        let exe = std::env::current_exe().context("locating this program to run jobs with")?;
        let defaults = JobDefaults { settings: encode, storage: storage_config.clone(), cdn };
        let wrapper = transcode_wrapper(&a.transcode_wrapper).context("HLS_TRANSCODE_WRAPPER")?;
        let children = ChildConfig { exe, wrapper, defaults, stall };
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
        let capacity_cores = if a.capacity_cores > 0.0 {
            a.capacity_cores
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get()) as f64
        };
        Ok(WorkerConfig { session, table: a.table(), children, metrics_addr, cleanup, overload, capacity_cores })
    }
}

/// The wrapper's words; its program must be found now, else every job would fail to start.
fn transcode_wrapper(text: &str) -> anyhow::Result<Vec<String>> {
    let words: Vec<String> = text.split_whitespace().map(String::from).collect();
    if let Some(program) = words.first() {
        let found = if program.contains('/') {
            std::path::Path::new(program).is_file()
        } else {
            std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(program).is_file()))
        };
        anyhow::ensure!(found, "{program:?} is not a file nor found on PATH: install it or give its full path");
    }
    Ok(words)
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
    fn the_transcode_wrapper_is_split_on_whitespace_and_its_program_must_exist() {
        assert!(transcode_wrapper("").unwrap().is_empty());
        assert!(transcode_wrapper("  ").unwrap().is_empty());
        assert_eq!(transcode_wrapper(" nice  -n 5 ").unwrap(), ["nice", "-n", "5"]);
        assert_eq!(transcode_wrapper("/bin/sh -c").unwrap(), ["/bin/sh", "-c"]);
        let err = transcode_wrapper("no-such-emulator-here -L /").unwrap_err().to_string();
        assert!(err.contains("\"no-such-emulator-here\" is not a file nor found on PATH"), "{err}");
        assert!(transcode_wrapper("/no/such/qemu-arm").is_err());
    }

    #[test]
    fn the_table_defaults_are_the_specs() {
        let t = default_table_config();
        if std::env::var_os("SERVER_CAPACITY").is_none() && std::env::var_os("HLS_RESTART_MAX").is_none() {
            assert_eq!((t.capacity, t.restart_max), (Capacity::Unlimited, 3));
        }
        if std::env::var_os("HLS_FINALIZE_TIMEOUT_SECONDS").is_none() {
            assert_eq!(t.finalize_timeout, Duration::from_secs(10));
        }
    }
}
