//! A strict fake coordinator: a websocket server on 127.0.0.1:0 that behaves like the Go
//! coordinator's control endpoint and records every upgrade attempt and frame with a timestamp.
//!
//! Strictness: the request target must be exactly `/ws/control/hls` (else 404, like the real
//! one), the JWT must verify (else 403), and every frame the worker sends must follow spec §2.1
//! (text, no `\r`, no blank line, ends with `\n`, known method, REGISTER first with an int32
//! Capacity). Breaches are recorded as violations; tests assert there are none.
//!
//! It parses frames with its own few lines, not the worker's codec, so a codec bug cannot hide.

use super::loopback::Loopback;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::Message;

pub const CONTROL_PATH: &str = "/ws/control/hls";
const METHODS: &[&str] = &["REGISTER", "HEARTBEAT", "STREAM-AVAILABLE", "STREAM-CLOSED", "ERROR"];

/// One HTTP upgrade request.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub at: Instant,
    pub target: String,
    /// 101 when upgraded, else the refusal status.
    pub status: u16,
    /// The verified token's claims.
    pub claims: Option<serde_json::Value>,
    pub had_token: bool,
}

/// One text frame from the worker.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub at: Instant,
    /// Index of the connection (0 = first accepted).
    pub conn: usize,
    pub text: String,
    pub method: String,
    pub params: HashMap<String, String>,
}

impl Recorded {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(&name.to_lowercase()).map(String::as_str)
    }
}

enum Cmd {
    Send(Message),
}

#[derive(Default)]
struct State {
    attempts: Vec<Attempt>,
    frames: Vec<Recorded>,
    violations: Vec<String>,
    refusing: bool,
    refuse_next: u32,
    silent: bool,
    /// Command channel and abort handle of each accepted connection, by index.
    conns: Vec<(mpsc::UnboundedSender<Cmd>, tokio::task::AbortHandle)>,
}

pub struct FakeCoordinator {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    /// Accepts connections; dropped (aborted) after the connections' tasks below.
    _server: Loopback,
}

impl Drop for FakeCoordinator {
    fn drop(&mut self) {
        for (_, task) in &self.state.lock().unwrap().conns {
            task.abort();
        }
    }
}

impl FakeCoordinator {
    /// Starts listening; sends HEARTBEAT every `heartbeat` on each connection unless silent.
    pub async fn start(secret: &str, heartbeat: Duration) -> FakeCoordinator {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let secret = secret.to_string();
        let server = Loopback::spawn(|listener| async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(handle(sock, secret.clone(), heartbeat, shared.clone()));
            }
        })
        .await;
        FakeCoordinator { addr: server.addr, state, _server: server }
    }

    pub fn base_url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// Answers 403 to every upgrade while set.
    pub fn set_refusing(&self, on: bool) {
        self.state.lock().unwrap().refusing = on;
    }

    /// Answers 403 to the next `n` upgrades.
    pub fn refuse_next(&self, n: u32) {
        self.state.lock().unwrap().refuse_next = n;
    }

    /// Stops (or resumes) sending heartbeats, like a coordinator that hung.
    pub fn set_silent(&self, on: bool) {
        self.state.lock().unwrap().silent = on;
    }

    /// Sends a frame on the newest connection.
    pub fn send(&self, msg: Message) {
        let st = self.state.lock().unwrap();
        let (tx, _) = st.conns.last().expect("no connection yet");
        tx.send(Cmd::Send(msg)).expect("connection gone");
    }

    pub fn send_text(&self, text: &str) {
        self.send(Message::text(text.to_string()));
    }

    /// Drops the newest connection's socket without a close frame.
    pub fn drop_link(&self) {
        let st = self.state.lock().unwrap();
        st.conns.last().expect("no connection yet").1.abort();
    }

    pub fn attempts(&self) -> Vec<Attempt> {
        self.state.lock().unwrap().attempts.clone()
    }

    pub fn frames(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().frames.clone()
    }

    pub fn frames_on(&self, conn: usize) -> Vec<Recorded> {
        self.frames().into_iter().filter(|f| f.conn == conn).collect()
    }

    pub fn connections(&self) -> usize {
        self.state.lock().unwrap().conns.len()
    }

    pub fn assert_clean(&self) {
        let v = self.state.lock().unwrap().violations.clone();
        assert!(v.is_empty(), "protocol violations: {v:#?}");
    }

    /// Polls `cond` over the recorded frames until it holds or `limit` passes.
    pub async fn wait_for(&self, limit: Duration, cond: impl Fn(&[Recorded]) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if cond(&self.frames()) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn verify(secret: &str, token: Option<&str>) -> Result<Option<serde_json::Value>, String> {
    if secret.is_empty() {
        return match token {
            None => Ok(None),
            Some(_) => Err("token sent although the secret is empty".into()),
        };
    }
    let token = token.ok_or("no x-control-auth-token header")?;
    let mut v = Validation::new(Algorithm::HS256);
    v.algorithms = vec![Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];
    v.set_required_spec_claims(&["sub"]);
    v.sub = Some("hls-control".into());
    let key = DecodingKey::from_secret(secret.as_bytes());
    let data = jsonwebtoken::decode::<serde_json::Value>(token, &key, &v).map_err(|e| format!("bad token: {e}"))?;
    Ok(Some(data.claims))
}

// The callback type is fixed by tungstenite, large error response included.
#[allow(clippy::result_large_err)]
async fn handle(sock: TcpStream, secret: String, heartbeat: Duration, state: Arc<Mutex<State>>) {
    let mut attempt = None;
    let check = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        let target = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_default();
        let token = req.headers().get("x-control-auth-token").and_then(|v| v.to_str().ok());
        let mut st = state.lock().unwrap();
        let mut record = Attempt {
            at: Instant::now(),
            target: target.clone(),
            status: 101,
            claims: None,
            had_token: token.is_some(),
        };
        let verdict = if target != CONTROL_PATH {
            st.violations.push(format!("request target {target:?}"));
            Err((StatusCode::NOT_FOUND, "Not found."))
        } else if st.refusing || st.refuse_next > 0 {
            st.refuse_next = st.refuse_next.saturating_sub(1);
            Err((StatusCode::FORBIDDEN, "Invalid authentication token."))
        } else {
            match verify(&secret, token) {
                Ok(claims) => {
                    record.claims = claims;
                    Ok(resp)
                }
                Err(why) => {
                    st.violations.push(why);
                    Err((StatusCode::FORBIDDEN, "Invalid authentication token."))
                }
            }
        };
        if let Err((status, _)) = &verdict {
            record.status = status.as_u16();
        }
        st.attempts.push(record);
        attempt = Some(verdict.is_ok());
        verdict.map_err(|(status, body)| {
            let mut r = ErrorResponse::new(Some(body.to_string()));
            *r.status_mut() = status;
            r
        })
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(sock, check).await else {
        return;
    };
    if attempt != Some(true) {
        return;
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let conn_state = state.clone();
    // Registered before the task runs so `send`/`drop_link` see the connection at once.
    let mut st = state.lock().unwrap();
    let conn = st.conns.len();
    let task = tokio::spawn(async move {
        let (mut sink, mut stream) = ws.split();
        let mut ticker = tokio::time::interval_at(Instant::now() + heartbeat, heartbeat);
        loop {
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(Cmd::Send(m)) => if sink.send(m).await.is_err() { return },
                    None => return,
                },
                _ = ticker.tick() => {
                    let silent = conn_state.lock().unwrap().silent;
                    if !silent && sink.send(Message::text("HEARTBEAT\n")).await.is_err() {
                        return;
                    }
                }
                frame = stream.next() => match frame {
                    Some(Ok(Message::Text(t))) => record(&conn_state, conn, t.as_str()),
                    Some(Ok(Message::Binary(_))) => {
                        conn_state.lock().unwrap().violations.push("binary frame".into());
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => return,
                },
            }
        }
    });
    st.conns.push((tx, task.abort_handle()));
}

fn record(state: &Mutex<State>, conn: usize, text: &str) {
    let mut st = state.lock().unwrap();
    let mut lines = text.split('\n');
    let method = lines.next().unwrap_or_default().to_string();
    let mut params = HashMap::new();
    for line in lines.take_while(|l| !l.is_empty()) {
        if let Some((name, value)) = line.split_once(':') {
            params.insert(name.to_lowercase(), value.to_string());
        }
    }
    let mut problems = Vec::new();
    if text.contains('\r') {
        problems.push("contains \\r");
    }
    if text.contains("\n\n") {
        problems.push("blank line");
    }
    if !text.ends_with('\n') {
        problems.push("no final newline");
    }
    if !METHODS.contains(&method.as_str()) {
        problems.push("unknown or non-upper-case method");
    }
    let first_on_conn = !st.frames.iter().any(|f| f.conn == conn);
    if first_on_conn && method != "REGISTER" {
        problems.push("first frame is not REGISTER");
    }
    if method == "REGISTER" {
        match params.get("capacity").map(|c| c.parse::<i32>()) {
            Some(Ok(_)) => {}
            _ => problems.push("REGISTER without an int32 Capacity"),
        }
    }
    for p in problems {
        st.violations.push(format!("{p}: {text:?}"));
    }
    st.frames.push(Recorded { at: Instant::now(), conn, text: text.to_string(), method, params });
}
