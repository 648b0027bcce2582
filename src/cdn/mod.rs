//! HLS WebSocket CDN push (output-layout §14): one push connection per rendition to an
//! AgustinSRG/hls-websocket-cdn server, which relays live segments to players.
//!
//! # Layout
//! - this file: the settings ([`CdnConfig`], validated from `config::CdnArgs`), the server
//!   choice and the protocol's messages (pure).
//! - `push`: the connection task of one rendition (I/O).

pub mod push;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

use crate::redact::Secret;

/// The CDN push, validated: present only when it is on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CdnConfig {
    /// `HLS_WS_CDN_URL`, each a ws(s) URL.
    pub urls: Vec<String>,
    /// `HLS_WS_CDN_PUSH_SECRET`; empty: an empty token.
    pub push_secret: Secret,
    /// `HLS_WS_CDN_READY_TIMEOUT_SECONDS`: longest delay of an HLS-LIVE announcement.
    pub ready_timeout: Duration,
}

/// The server refuses longer stream ids (§14.1).
const MAX_STREAM_ID: usize = 255;
/// The server refuses longer text messages (§14.1).
const MAX_TEXT_MESSAGE: usize = 1600;
/// A server that failed this recently is avoided when another is available.
pub const FAILURE_MEMORY: Duration = Duration::from_secs(10);

/// Which server to dial: uniformly at random among those with no failure in the last
/// [`FAILURE_MEMORY`]; if all failed recently, the one whose last failure is oldest.
pub fn choose_server(last_failure: &[Option<Instant>], now: Instant, random: usize) -> usize {
    let fresh: Vec<usize> = (0..last_failure.len())
        .filter(|&i| last_failure[i].is_none_or(|t| now.saturating_duration_since(t) >= FAILURE_MEMORY))
        .collect();
    if !fresh.is_empty() {
        return fresh[random % fresh.len()];
    }
    (0..last_failure.len()).min_by_key(|&i| last_failure[i]).unwrap_or(0)
}

#[derive(Serialize)]
struct PushClaims {
    sub: String,
    exp: u64,
}

/// `PUSH:stream={url-encoded id}&auth={jwt}`, or `None` when the server would refuse it
/// (id over 255 characters, message over 1600 bytes): the push is then off for the rendition.
pub fn push_message(stream_id: &str, secret: &str, now: SystemTime) -> Option<String> {
    if stream_id.len() > MAX_STREAM_ID {
        return None;
    }
    let auth = if secret.is_empty() {
        String::new()
    } else {
        let exp = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) + 3600;
        let claims = PushClaims { sub: format!("PUSH:{stream_id}"), exp };
        let key = EncodingKey::from_secret(secret.as_bytes());
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).ok()?
    };
    let message = format!("PUSH:stream={}&auth={auth}", url_encode(stream_id));
    (message.len() <= MAX_TEXT_MESSAGE).then_some(message)
}

/// `F:duration={EXTINF without trailing zeros}`.
pub fn fragment_message(duration: crate::pipeline::clock::Q) -> String {
    format!("F:duration={}", crate::hls::format::decimal_trimmed(duration))
}

/// What the server said, as the push task needs it.
#[derive(Debug, PartialEq, Eq)]
pub enum ServerMessage {
    Ok,
    Error(String),
    Heartbeat,
    Other,
}

impl ServerMessage {
    pub fn parse(text: &str) -> ServerMessage {
        match text.trim() {
            "OK" => ServerMessage::Ok,
            "H" => ServerMessage::Heartbeat,
            t if t.starts_with("E:") => ServerMessage::Error(t.chars().filter(|c| !c.is_control()).take(300).collect()),
            _ => ServerMessage::Other,
        }
    }
}

/// Percent-encoding of everything but unreserved characters (RFC 3986).
fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{DecodingKey, Validation};
    use num_rational::Ratio;

    use super::*;

    #[test]
    fn servers_that_failed_recently_are_avoided_unless_all_did() {
        let now = Instant::now();
        let recent = Some(now - Duration::from_secs(2));
        let older = Some(now - Duration::from_secs(5));
        let long_ago = Some(now - Duration::from_secs(60));
        assert_eq!(choose_server(&[recent, None], now, 0), 1);
        assert_eq!(choose_server(&[recent, None], now, 7), 1);
        assert_eq!(choose_server(&[long_ago, recent], now, 0), 0);
        let picks: std::collections::HashSet<usize> = (0..10).map(|r| choose_server(&[None, None], now, r)).collect();
        assert_eq!(picks.len(), 2, "uniform among the fresh ones");
        assert_eq!(choose_server(&[recent, older], now, 3), 1, "all failed: the oldest failure");
    }

    #[test]
    fn the_push_message_carries_an_hs256_token_for_the_stream() {
        let id = "hls/c1/0000018f4a2b3c4d00000007a1b2c3d4/640x360-30~800/live.m3u8";
        let msg = push_message(id, "secret", SystemTime::now()).unwrap();
        let (stream, auth) = msg.strip_prefix("PUSH:stream=").unwrap().split_once("&auth=").unwrap();
        assert_eq!(stream, "hls%2Fc1%2F0000018f4a2b3c4d00000007a1b2c3d4%2F640x360-30~800%2Flive.m3u8");
        let mut v = Validation::new(Algorithm::HS256);
        v.set_required_spec_claims(&["exp", "sub"]);
        let claims = jsonwebtoken::decode::<serde_json::Value>(auth, &DecodingKey::from_secret(b"secret"), &v).unwrap();
        assert_eq!(claims.claims["sub"], format!("PUSH:{id}"));
        assert_eq!(push_message(id, "", SystemTime::now()).unwrap(), format!("PUSH:stream={stream}&auth="));
        assert_eq!(push_message(&"x".repeat(256), "", SystemTime::now()), None, "ids over 255 are refused");
        // The longest id the server takes, all of it escaped, still fits in one message.
        assert!(push_message(&"/".repeat(255), "secret", SystemTime::now()).is_some_and(|m| m.len() <= 1600));
    }

    #[test]
    fn fragments_and_server_messages_follow_the_protocol() {
        assert_eq!(fragment_message(Ratio::new(3, 1)), "F:duration=3");
        assert_eq!(fragment_message(Ratio::new(3003, 1000)), "F:duration=3.003");
        assert_eq!(ServerMessage::parse("OK"), ServerMessage::Ok);
        assert_eq!(ServerMessage::parse("H"), ServerMessage::Heartbeat);
        assert_eq!(
            ServerMessage::parse("E:code=AUTH_ERROR&message=Invalid"),
            ServerMessage::Error("E:code=AUTH_ERROR&message=Invalid".into())
        );
    }
}
