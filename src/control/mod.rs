//! The coordinator link (spec: coordinator-protocol.md §1–§8).
//!
//! # Layout
//! - `codec`: text framing, parse and emit exactly as the coordinator does (sans-IO).
//! - `message`: typed inbound and outbound messages, id validation.
//! - `auth`: the HS256 control token.
//! - `url`: the URL dialled from `CONTROL_BASE_URL`.
//! - `backoff`: reconnect delays (sans-IO).
//! - `session`: the long-lived websocket loop: dial, REGISTER, heartbeats, queue, reconnect.

pub mod auth;
pub mod backoff;
pub mod codec;
pub mod message;
pub mod session;
pub mod url;

use std::time::Duration;

pub use message::{is_coordinator_stream_id, validate_id, EncodeStartRaw, ErrorCode, Inbound, Outbound};
pub use session::{run, SessionConfig};

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
