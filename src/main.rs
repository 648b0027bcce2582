use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use hls_ladder::cli::{Cli, Command};
use hls_ladder::config::env;

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
        Command::Worker(args) => hls_ladder::worker::run(*args),
        Command::Transcode(args) => hls_ladder::transcode::run(*args),
        Command::Probe(args) => hls_ladder::probe::run(args),
        Command::Health(args) => hls_ladder::metrics::http::health(args),
        Command::Serve(args) => hls_ladder::serve::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
