use std::process::ExitCode;

use clap::Parser;
use hls_ladder::cli::{Cli, Command};

fn main() -> ExitCode {
    // Before parsing: flags read their environment variables, and `.env` may supply them.
    let dotenv = hls_ladder::worker::config::load_dotenv(std::path::Path::new(".env"));
    let env_warnings = hls_ladder::cli::drop_invalid_env::<hls_ladder::worker::WorkerArgs>();
    let cli = Cli::parse();
    hls_ladder::logging::init(cli.log_json, cli.log_debug, cli.log_task_status);
    for warning in env_warnings {
        tracing::warn!("{warning}");
    }
    if let Err(e) = dotenv {
        eprintln!("error: {e:#}");
        return ExitCode::FAILURE;
    }
    let result = match cli.command {
        Command::Worker(args) => hls_ladder::worker::run(args),
        Command::Transcode(args) => hls_ladder::transcode::run(*args),
        Command::Probe(args) => hls_ladder::probe::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
