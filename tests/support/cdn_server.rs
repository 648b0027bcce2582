//! A strict fake of AgustinSRG/hls-websocket-cdn's push side (output-layout §14.1) on
//! 127.0.0.1:0. It checks what the real server checks (the HS256 token: `sub` =
//! `PUSH:{id}`, `exp` in the future; `H` only after `OK`; `F:duration` > 0 followed by one
//! non-empty binary message) and more (`F:` and binary strictly alternate), records every
//! protocol violation, and can misbehave on purpose: refuse the token, never answer, or drop
//! the connection after a number of segments.

use super::loopback::Loopback;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Clone, Copy)]
pub enum Behaviour {
    /// `OK` after this delay, then take segments.
    Accept(Duration),
    /// `E:code=AUTH_ERROR&…` and close, whatever the token.
    Refuse,
    /// Never answer the `PUSH`.
    Stall,
    /// `OK` at once; on the first connection only, close after this many segments.
    DropAfter(usize),
}

#[derive(Debug, Clone)]
pub struct Pushed {
    pub duration: f32,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Default)]
pub struct Log {
    /// Every `PUSH` stream id, in connection order.
    pub pushes: Vec<String>,
    /// When `OK` was about to be sent, per connection that got one.
    pub ok_at: Vec<Instant>,
    pub segments: Vec<Pushed>,
    pub heartbeats: usize,
    pub closes: usize,
    pub violations: Vec<String>,
}

pub struct FakeCdn {
    pub addr: SocketAddr,
    log: Arc<Mutex<Log>>,
    _server: Loopback,
}

impl FakeCdn {
    pub async fn start(secret: &'static str, behaviour: Behaviour) -> FakeCdn {
        let log = Arc::new(Mutex::new(Log::default()));
        let shared = log.clone();
        let server = Loopback::spawn(|listener| async move {
            let mut connection = 0;
            while let Ok((stream, _)) = listener.accept().await {
                connection += 1;
                let log = shared.clone();
                tokio::spawn(serve(stream, secret, behaviour, connection, log));
            }
        })
        .await;
        FakeCdn { addr: server.addr, log, _server: server }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    pub fn log<T>(&self, f: impl FnOnce(&Log) -> T) -> T {
        f(&self.log.lock().unwrap())
    }
}

fn violation(log: &Mutex<Log>, what: String) {
    log.lock().unwrap().violations.push(what);
}

async fn serve(
    stream: tokio::net::TcpStream,
    secret: &str,
    behaviour: Behaviour,
    connection: usize,
    log: Arc<Mutex<Log>>,
) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else { return };
    let first = match ws.next().await {
        Some(Ok(Message::Text(t))) => t.to_string(),
        other => return violation(&log, format!("first message is not PUSH: {other:?}")),
    };
    let Some(rest) = first.strip_prefix("PUSH:") else {
        return violation(&log, format!("first message is not PUSH: {first}"));
    };
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(rest.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let (id, auth) = (get("stream"), get("auth"));
    log.lock().unwrap().pushes.push(id.clone());
    if id.is_empty() || id.len() > 255 {
        return violation(&log, format!("bad stream id {id:?}"));
    }
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "sub"]);
    validation.sub = Some(format!("PUSH:{id}"));
    let key = jsonwebtoken::DecodingKey::from_secret(secret.as_bytes());
    let token_ok = jsonwebtoken::decode::<serde_json::Value>(&auth, &key, &validation).is_ok();
    if !token_ok || matches!(behaviour, Behaviour::Refuse) {
        let _ = ws.send(Message::text("E:code=AUTH_ERROR&message=Invalid auth token")).await;
        let _ = ws.close(None).await;
        if !token_ok && !matches!(behaviour, Behaviour::Refuse) {
            violation(&log, format!("token refused for {id}"));
        }
        return;
    }
    match behaviour {
        Behaviour::Stall => {
            // Read and ignore until the pusher gives up; `H` before `OK` is a protocol error.
            while let Some(Ok(msg)) = ws.next().await {
                if msg == Message::text("H") {
                    violation(&log, "H before OK".into());
                }
            }
            return;
        }
        Behaviour::Accept(delay) => tokio::time::sleep(delay).await,
        _ => {}
    }
    // Stamped before the send: the send's await may return after the worker has already
    // read OK and announced (the test's runtime is busy with the encoders), and an HLS-LIVE
    // stamped between the two would look early when it was not.
    log.lock().unwrap().ok_at.push(Instant::now());
    if ws.send(Message::text("OK")).await.is_err() {
        return;
    }
    let mut expected_binary = false;
    let mut taken = 0;
    while let Some(msg) = ws.next().await {
        match msg {
            Ok(Message::Text(t)) if t.as_str() == "H" => log.lock().unwrap().heartbeats += 1,
            Ok(Message::Text(t)) if t.as_str() == "CLOSE" => {
                if expected_binary {
                    violation(&log, "CLOSE between F: and its segment".into());
                }
                log.lock().unwrap().closes += 1;
                return;
            }
            Ok(Message::Text(t)) => match t.strip_prefix("F:duration=").map(str::parse::<f32>) {
                Some(Ok(d)) if d > 0.0 && !expected_binary => {
                    expected_binary = true;
                    log.lock().unwrap().segments.push(Pushed { duration: d, bytes: Vec::new() });
                }
                _ => violation(&log, format!("unexpected text {t:?} (binary expected: {expected_binary})")),
            },
            Ok(Message::Binary(b)) => {
                if !expected_binary || b.is_empty() {
                    violation(&log, format!("binary of {} bytes without F: before it", b.len()));
                }
                expected_binary = false;
                if let Some(last) = log.lock().unwrap().segments.last_mut() {
                    last.bytes = b.to_vec();
                }
                taken += 1;
                if matches!(behaviour, Behaviour::DropAfter(n) if connection == 1 && taken == n) {
                    return; // dropped without a close frame, as a crashed server would
                }
            }
            Ok(_) => {}
            Err(_) => return,
        }
    }
}
