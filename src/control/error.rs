//! Why the control link failed.

use std::time::Duration;

/// Why the link failed. Only [`ControlError::InvalidUrl`] is fatal (at start-up); the others are
/// one connection's failure, logged and followed by a reconnect.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("invalid CONTROL_BASE_URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("dial timed out after {0:?}")]
    DialTimeout(Duration),
    #[error("upgrade refused with HTTP 403 (check CONTROL_SECRET)")]
    Forbidden,
    #[error("upgrade refused with HTTP {0}")]
    Refused(u16),
    #[error("websocket: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("write timed out after {0:?}")]
    WriteTimeout(Duration),
    #[error("no frame received for {0:?}")]
    ReadTimeout(Duration),
    #[error("connection closed by the coordinator")]
    Closed,
}
