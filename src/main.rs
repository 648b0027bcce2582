use std::process::ExitCode;

use clap::Parser;
use hls_ladder::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    hls_ladder::logging::init(cli.log_json, cli.log_debug);
    let result = match cli.command {
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
