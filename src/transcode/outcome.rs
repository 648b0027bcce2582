//! How a run ended, mapped once from the pipeline's result to the `finishing` and `closed`
//! events (and from there to STREAM-CLOSED's error code and message).

use crate::child_protocol::{EndKind, ErrorCode, Event};
use crate::pipeline::{EndReason, PipelineError, RunError};

/// How a transcode ended, as reported in the `finishing` and `closed` events.
pub struct Outcome {
    pub end: EndKind,
    pub error: Option<ErrorCode>,
    /// What failed, for the operator and the STREAM-CLOSED `Error-Message`; no stream key.
    pub message: Option<String>,
}

impl Outcome {
    pub fn of(result: &Result<EndReason, RunError>) -> Outcome {
        let end = match result {
            Ok(EndReason::EndOfStream) => EndKind::EndOfStream,
            Ok(EndReason::SourceStalled) => EndKind::SourceStalled,
            Ok(EndReason::Stopped) | Err(RunError { error: PipelineError::Stopped, .. }) => EndKind::Stopped,
            Ok(EndReason::DurationReached) => EndKind::DurationReached,
            Ok(EndReason::FragmentLimit) => EndKind::FragmentLimit,
            Err(_) => EndKind::Failed,
        };
        let error = match result {
            Ok(EndReason::FragmentLimit) => Some(ErrorCode::FragmentLimit),
            Ok(_) => None,
            Err(e) => match e.error {
                PipelineError::Open { .. } => Some(ErrorCode::SourceUnreachable),
                PipelineError::SourceTimeout { .. } => Some(ErrorCode::SourceTimeout),
                PipelineError::Stopped => None,
                _ => Some(ErrorCode::PipelineFailed),
            },
        };
        let message = result.as_ref().err().filter(|e| !matches!(e.error, PipelineError::Stopped));
        let message = message.map(|e| crate::redact::redact_urls(&e.to_string()));
        Outcome { end, error, message }
    }

    /// The `finishing` event (`finishing`: the pipeline is done, the last writes begin) or
    /// the `closed` one.
    pub fn event(&self, finishing: bool) -> Event {
        let (reason, error_code, message) = (self.end, self.error, self.message.clone());
        if finishing {
            Event::Finishing { reason, error_code, message }
        } else {
            Event::Closed { reason, error_code, message }
        }
    }
}
