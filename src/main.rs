//! The binary: the environment, the command line, logging, one async runtime, and the process's
//! signals. Everything else is the library's; its commands take their shutdown as an argument.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{CommandFactory, Parser};
use hls_ladder::cli::{Cli, Command};
use hls_ladder::config::{env, WorkerConfig};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    // Before parsing and before any thread exists (the environment is changed here, once):
    // flags read their environment variables, `.env` may supply them, and a variable with an
    // invalid value falls back to its default with a warning (coordinator-protocol §11).
    let dotenv = env::dotenv_assignments(std::path::Path::new(".env"), |k| std::env::var_os(k).is_some());
    for (key, value) in dotenv.as_deref().unwrap_or_default() {
        std::env::set_var(key, value);
    }
    let invalid = env::invalid_env(&Cli::command(), |k| std::env::var(k).ok());
    for (var, _) in &invalid {
        std::env::remove_var(var);
    }
    let cli = Cli::parse();
    hls_ladder::logging::init(cli.log_json, cli.log_debug, cli.log_task_status);
    for (_, warning) in invalid {
        tracing::warn!("{warning}");
    }
    if let Err(e) = dotenv {
        eprintln!("error: {e:#}");
        return ExitCode::FAILURE;
    }
    let result = match cli.command {
        Command::Worker(args) => WorkerConfig::from_args(*args, |k| std::env::var(k).ok())
            .and_then(|config| on_runtime(worker(config)))
            .map(|()| ExitCode::SUCCESS),
        Command::Transcode(args) => on_runtime(transcode(*args)),
        Command::Probe(args) => hls_ladder::probe::run(args),
        Command::Health(args) => hls_ladder::metrics::http::health(args),
        Command::Serve(args) => on_runtime(hls_ladder::serve::run(args, async {
            let _ = tokio::signal::ctrl_c().await;
        }))
        .map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The one async runtime of every command: two threads for control, supervision and I/O (the
/// media work runs on threads of its own).
fn on_runtime<T>(command: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(command)
}

/// `worker` until SIGTERM/SIGINT has drained every job.
async fn worker(config: WorkerConfig) -> anyhow::Result<()> {
    let (requests, shutdown) = mpsc::channel(4);
    tokio::spawn(forward_signals(requests));
    hls_ladder::worker::serve(config, shutdown).await
}

/// SIGTERM and SIGINT become shutdown requests (the first drains, the second stops every
/// job); a third one exits at once.
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

/// `transcode`: Ctrl-C finishes the stream properly; a second one exits at once.
async fn transcode(args: hls_ladder::transcode::TranscodeArgs) -> anyhow::Result<ExitCode> {
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!("interrupted: finishing the stream (Ctrl-C again to abort)");
            stop.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    hls_ladder::transcode::command(args, shutdown).await
}
