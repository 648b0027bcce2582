//! `hls-ladder worker`: the production mode (coordinator-protocol.md). Connects to the
//! coordinator, takes ENCODE-START / ENCODE-STOP, runs each job as a `transcode --job` child
//! and reports STREAM-AVAILABLE / STREAM-CLOSED.
//!
//! # Layout
//! - `config`: flags and environment (and `.env`) into a validated [`WorkerConfig`].
//! - this file: the flags, signal handling and the wiring of session and supervisor.

pub mod config;

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::cli::{parse_bool, JobSettings};
use crate::control;
use crate::supervisor::Supervisor;
pub use config::WorkerConfig;

/// The worker's flags. An invalid value in the environment falls back to the default with a
/// warning (spec §11, [`crate::cli::drop_invalid_env`]); an invalid flag is an error.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Coordinator base URL (ws, wss; http and https as aliases). The path becomes /ws/control/hls.
    #[arg(long, env = "CONTROL_BASE_URL")]
    pub control_base_url: String,
    /// Secret for the control token (HS256); empty sends no token.
    #[arg(long, env = "CONTROL_SECRET", default_value = "", hide_env_values = true)]
    pub control_secret: String,
    /// Keep the base URL's path prefix (a reverse proxy that strips it).
    #[arg(long = "control-url-keep-path", env = "CONTROL_URL_KEEP_PATH", value_parser = parse_bool, default_value = "NO")]
    pub keep_path: bool,
    /// Concurrent jobs: -1 unlimited, 0 never assigned.
    #[arg(long, env = "SERVER_CAPACITY", default_value_t = -1, allow_negative_numbers = true)]
    pub server_capacity: i32,
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
    /// What every job does; passed to each job's process as flags.
    #[command(flatten)]
    pub settings: JobSettings,
}

/// The command: validate, then serve until SIGTERM/SIGINT has drained every job.
pub fn run(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let config = WorkerConfig::from_args(args, |k| std::env::var(k).ok())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let (signals_tx, signals) = mpsc::channel(4);
        tokio::spawn(forward_signals(signals_tx));
        serve(config, signals).await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Runs the worker until shutdown completes. Each message on `shutdown` is one shutdown
/// request (spec §9.4): the first drains, the second kills every job. Returns after the
/// last STREAM-CLOSED was delivered, or the 10 s flush bound passed.
pub async fn serve(config: WorkerConfig, shutdown: mpsc::Receiver<()>) -> anyhow::Result<()> {
    let (capacity_tx, capacity_rx) = watch::channel(-1);
    // Job messages are few (a handful per job); the session drains this even while offline.
    let (outbound_tx, outbound_rx) = mpsc::channel(1024);
    let (inbound_tx, inbound_rx) = mpsc::channel(64);
    let mut supervisor = Supervisor::new(config.table, config.children, outbound_tx, capacity_tx);
    let link_done = CancellationToken::new();
    tracing::info!(url = %config.session.url, "worker starting");
    let session = tokio::spawn(control::run(config.session, capacity_rx, outbound_rx, inbound_tx, link_done.clone()));
    supervisor.run(inbound_rx, shutdown).await;
    // Every STREAM-CLOSED is in the session's queue now; it flushes them, then closes.
    drop(supervisor);
    link_done.cancel();
    session.await.context("control session panicked")?.context("control session")?;
    tracing::info!("worker stopped");
    Ok(())
}

/// SIGTERM and SIGINT become shutdown requests; a third one exits at once.
async fn forward_signals(requests: mpsc::Sender<()>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        tracing::error!("cannot listen for SIGTERM/SIGINT; stop the worker with SIGKILL");
        // Holding the sender open: a closed channel would read as a shutdown request.
        return std::future::pending().await;
    };
    for count in 1.. {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        match count {
            1 => tracing::info!("shutdown requested: no new jobs, draining the running ones"),
            2 => tracing::warn!("second shutdown request: stopping every job now"),
            _ => std::process::exit(130),
        }
        if requests.send(()).await.is_err() {
            return;
        }
    }
}
