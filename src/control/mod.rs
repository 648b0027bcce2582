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
mod error;
pub mod message;
pub mod session;
pub mod url;

pub use error::ControlError;
pub use message::{is_coordinator_stream_id, validate_id, EncodeStartRaw, ErrorCode, Inbound, Outbound};
pub use session::{run, SessionConfig};
