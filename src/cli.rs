//! Command line: one subcommand per mode. Each field that the Go worker read from the
//! environment keeps that variable name, so the same deployment settings work here.

use clap::{Parser, Subcommand};

use crate::probe::ProbeArgs;
use crate::transcode::TranscodeArgs;
use crate::worker::WorkerArgs;

#[derive(Debug, Parser)]
#[command(name = "hls-ladder", version, about = "Live transcoding worker: RTMP in, keyframe-aligned HLS ladder out")]
pub struct Cli {
    /// Log as JSON lines on stderr (for log collectors).
    #[arg(long, global = true, env = "LOG_JSON", value_parser = parse_bool, default_value = "NO")]
    pub log_json: bool,
    /// Debug logs.
    #[arg(long, global = true, env = "LOG_DEBUG", value_parser = parse_bool, default_value = "NO")]
    pub log_debug: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Production mode: take jobs from the coordinator and run each one as a transcode.
    Worker(WorkerArgs),
    /// Transcode one stream (rtmp:// URL, media file, or `testsrc`) into an HLS ladder.
    Transcode(Box<TranscodeArgs>),
    /// Show a source's streams and the ladder the fitting algorithm picks for it.
    Probe(ProbeArgs),
}

/// `YES`/`NO` as the Go worker wrote them; `TRUE`/`FALSE`, `1`/`0` accepted too.
pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "yes" | "true" | "1" | "on" => Ok(true),
        "no" | "false" | "0" | "off" | "" => Ok(false),
        other => Err(format!("expected YES or NO, got {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_accept_the_go_worker_spellings() {
        assert_eq!(parse_bool("YES"), Ok(true));
        assert_eq!(parse_bool("no"), Ok(false));
        assert_eq!(parse_bool("True"), Ok(true));
        assert!(parse_bool("maybe").is_err());
    }
}
