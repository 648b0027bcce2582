//! How a pipeline run fails or ends: [`PipelineError`] (what failed, for the operator),
//! [`RunError`] (with libav's last words), [`EndReason`] (a normal end), and the mapping of
//! libav's "nothing more for now" results.

use ffmpeg_next as ffmpeg;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("cannot open source {source_url}: {reason}")]
    Open { source_url: String, reason: String },
    #[error("source {source_url} sent no media within {seconds} s; check that the publisher is live and that the ingest server lets this worker play")]
    SourceTimeout { source_url: String, seconds: u64 },
    #[error("source {source_url} has no video stream")]
    NoVideo { source_url: String },
    #[error("video decoder: {reason}")]
    Decode { reason: String },
    #[error("rendition {rung}: {reason}")]
    Encode { rung: String, reason: String },
    #[error("rendition {rung}: muxing failed: {reason}")]
    Mux { rung: String, reason: String },
    #[error("audio: {reason}")]
    Audio { reason: String },
    #[error("previews: {reason}")]
    Preview { reason: String },
    #[error("stopped before the source produced media")]
    Stopped,
    #[error("pipeline thread panicked: {0}")]
    Panic(String),
}

/// A failed run: what failed, and the last errors libav logged before it, which often name
/// the real cause ("Connection refused", "Invalid data found when processing input").
#[derive(Debug)]
pub struct RunError {
    pub error: PipelineError,
    /// libav's last error lines, oldest first, stream keys redacted.
    pub libav: Vec<String>,
}

impl From<PipelineError> for RunError {
    /// Takes libav's recent error lines with it.
    fn from(error: PipelineError) -> RunError {
        RunError { error, libav: crate::logging::recent_libav_errors() }
    }
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.error)?;
        if !self.libav.is_empty() {
            write!(f, " (libav: {})", self.libav.join(" | "))?;
        }
        Ok(())
    }
}

impl std::error::Error for RunError {}

/// Why a run ended normally (everything flushed and segmented).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    EndOfStream,
    /// No media for the source timeout while running: treated as EOF (spec §9.2).
    SourceStalled,
    Stopped,
    DurationReached,
    FragmentLimit,
}

/// Maps a libav receive result: `Ok(true)` got one, `Ok(false)` drained (EAGAIN or EOF).
pub fn drain(result: Result<(), ffmpeg::Error>) -> Result<bool, ffmpeg::Error> {
    match result {
        Ok(()) => Ok(true),
        Err(ffmpeg::Error::Other { errno }) if errno == ffmpeg::ffi::EAGAIN => Ok(false),
        Err(ffmpeg::Error::Eof) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The text of a thread's panic, for [`PipelineError::Panic`].
pub(super) fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned()).unwrap_or_default()
}
