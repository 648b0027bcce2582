//! Command line: one subcommand per mode. Each field that the Go worker read from the
//! environment keeps that variable name, so the same deployment settings work here; the
//! settings themselves and their validation live in [`crate::config`].

use clap::{Parser, Subcommand};

use crate::config::{parse_bool, WorkerArgs};
use crate::metrics::http::HealthArgs;
use crate::probe::ProbeArgs;
use crate::serve::ServeArgs;
use crate::transcode::TranscodeArgs;

#[derive(Debug, Parser)]
#[command(name = "hls-ladder", version, about = "Live transcoding worker: RTMP in, keyframe-aligned HLS ladder out")]
pub struct Cli {
    /// Log as JSON lines on stderr (for log collectors).
    #[arg(long, global = true, env = "LOG_JSON", value_parser = parse_bool, action = clap::ArgAction::Set,
        num_args = 0..=1, default_missing_value = "YES", default_value = "NO")]
    pub log_json: bool,
    /// Debug logs.
    #[arg(long, global = true, env = "LOG_DEBUG", value_parser = parse_bool, action = clap::ArgAction::Set,
        num_args = 0..=1, default_missing_value = "YES", default_value = "NO")]
    pub log_debug: bool,
    /// Per-job lifecycle logs (jobs accepted, started, closed, restarted); NO keeps warnings
    /// and errors only.
    #[arg(long, global = true, env = "LOG_TASK_STATUS", value_parser = parse_bool, action = clap::ArgAction::Set, default_value = "YES")]
    pub log_task_status: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Production mode: take jobs from the coordinator and run each one as a transcode.
    Worker(Box<WorkerArgs>),
    /// Transcode one stream (rtmp:// URL, media file, or `testsrc`) into an HLS ladder.
    Transcode(Box<TranscodeArgs>),
    /// Show a source's streams and the ladder the fitting algorithm picks for it.
    Probe(ProbeArgs),
    /// Ask a running worker's /healthz (the container HEALTHCHECK): exit 0 when healthy.
    Health(HealthArgs),
    /// Serve a storage root over HTTP: a stream list, a player page per stream, the files.
    Serve(ServeArgs),
}
