//! The link to a supervising worker over stdin: the job document first, then
//! [`ChildCommand`] lines (`stop`, `shed LABEL`). EOF means the worker is gone.

use std::sync::Arc;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::child_protocol::{ChildCommand, ChildJob};
use crate::pipeline::stats::PipelineStats;

/// Reads the job document: a file, or (`-`) the first line of stdin.
pub fn read_job(from: &str) -> anyhow::Result<ChildJob> {
    let text = if from == "-" {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).context("reading the job from stdin")?;
        line
    } else {
        std::fs::read_to_string(from).with_context(|| format!("reading the job file {from}"))?
    };
    ChildJob::from_line(&text).context("the job is not a valid job document (see `worker`)")
}

/// After the job line, stdin carries the supervisor's commands: `stop` finishes the stream
/// (stop reading, flush, ENDLIST). EOF means the supervisor is gone: finish the same way
/// rather than run on unsupervised. A thread of its own: stdin reads block.
pub fn follow_supervisor(stop: CancellationToken, stats: Arc<PipelineStats>) {
    let spawned = std::thread::Builder::new().name("supervisor-link".into()).spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            match ChildCommand::parse(&line) {
                Some(ChildCommand::Stop) => {
                    tracing::info!("stop requested by the supervisor: finishing the stream");
                    stop.cancel();
                }
                Some(ChildCommand::Shed(label)) => match stats.request_shed(&label) {
                    Ok(()) => {
                        tracing::warn!(rendition = %label, "overload: shedding rendition at its next segment boundary")
                    }
                    Err(e) => tracing::error!(rendition = %label, "shed request refused: {e}"),
                },
                None => tracing::warn!(command = line.trim(), "unknown supervisor command ignored"),
            }
        }
        if !stop.is_cancelled() {
            tracing::warn!("supervisor gone (stdin closed): finishing the stream");
            stop.cancel();
        }
    });
    if let Err(e) = spawned {
        tracing::error!("cannot follow the supervisor's commands: {e}");
    }
}
