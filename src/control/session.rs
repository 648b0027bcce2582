//! The long-lived control link (spec §1, §6, §7, §8): dial, REGISTER, heartbeats, the outbound
//! queue that survives disconnections, and reconnects with backoff.

use std::collections::VecDeque;
use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::{interval_at, sleep, sleep_until, timeout, timeout_at, Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, trace, warn, Instrument};
use url::Url;

use crate::control::auth::control_token;
use crate::control::backoff::Backoff;
use crate::control::codec::MAX_FRAME_BYTES;
use crate::control::error::ControlError;
use crate::control::message::{Inbound, Outbound};
use crate::redact::Secret;

/// Capacity changes closer together than this go out as one REGISTER (spec §8).
const REGISTER_COALESCE: Duration = Duration::from_millis(100);
/// Anything this large is not a coordinator message; tungstenite refuses it outright.
const MAX_WS_MESSAGE: usize = 1 << 20;

type Conn = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How the link behaves; every duration is injectable so tests can run fast.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Full control URL, as built by [`crate::control::url::control_url`].
    pub url: Url,
    /// `CONTROL_SECRET`; empty means no auth header. Redacted in `Debug`.
    pub secret: Secret,
    /// HEARTBEAT interval while connected (spec: 20 s, must stay ≤ 30 s).
    pub heartbeat: Duration,
    /// A connection that delivers no frame for this long is closed and redialled (spec: 60 s).
    pub read_timeout: Duration,
    /// Bound on TCP + TLS + upgrade (spec: 10 s).
    pub dial_timeout: Duration,
    /// How long shutdown may spend delivering queued messages (spec §9.4: 10 s).
    pub flush_timeout: Duration,
    /// What the link reports of itself (metrics, readiness); shared with whoever watches.
    pub link: LinkStatus,
}

/// The link's own state, set by the session as it happens.
#[derive(Debug, Clone, Default)]
pub struct LinkStatus {
    /// 1 while connected and registered, else 0.
    pub connected: prometheus_client::metrics::gauge::Gauge,
    /// Connections established after the first one.
    pub reconnects: prometheus_client::metrics::counter::Counter,
}

impl SessionConfig {
    /// The spec's timings for `url`.
    pub fn new(url: Url, secret: impl Into<String>) -> Self {
        Self {
            url,
            secret: Secret::new(secret),
            heartbeat: Duration::from_secs(20),
            read_timeout: Duration::from_secs(60),
            dial_timeout: Duration::from_secs(10),
            flush_timeout: Duration::from_secs(10),
            link: LinkStatus::default(),
        }
    }
}

/// Runs the control link until `shutdown` is cancelled, then spends at most `flush_timeout`
/// delivering the messages still queued, closes and returns.
///
/// - `capacity`: the free capacity to REGISTER; every change is re-sent (coalesced over 100 ms).
/// - `outbound`: STREAM-AVAILABLE, STREAM-CLOSED and ERROR from the jobs, delivered in order and
///   exactly once across reconnects. Cancel `shutdown` only after the producers have sent their
///   last message: the queue is emptied once, when shutdown starts.
/// - `inbound`: ENCODE-START and ENCODE-STOP; heartbeats, coordinator ERRORs and unknown methods
///   are handled (logged) here.
///
/// Only an unusable URL is an error; connection failures are retried forever.
pub async fn run(
    cfg: SessionConfig,
    capacity: watch::Receiver<i32>,
    outbound: mpsc::Receiver<Outbound>,
    inbound: mpsc::Sender<Inbound>,
    shutdown: CancellationToken,
) -> Result<(), ControlError> {
    if !matches!(cfg.url.scheme(), "ws" | "wss") {
        return Err(ControlError::InvalidUrl {
            url: cfg.url.to_string(),
            reason: "the session dials ws or wss only".into(),
        });
    }
    crate::tls::ensure_crypto_provider();
    let span = tracing::info_span!("control", url = %cfg.url);
    let session = Session {
        cfg,
        capacity,
        capacity_open: true,
        outbox: Outbox { rx: outbound, open: true, pending: VecDeque::new() },
        inbound,
        shutdown,
        backoff: Backoff::new(),
        streak: 0,
        connected_before: false,
        registered: None,
    };
    session.run().instrument(span).await
}

/// Job messages on their way out.
struct Outbox {
    rx: mpsc::Receiver<Outbound>,
    /// False once every sender is gone; the link keeps running for REGISTER and heartbeats.
    open: bool,
    /// Messages not yet written to an open connection, oldest first. Everything still in `rx`
    /// is newer, so writing this first and then `rx` keeps the producers' order.
    pending: VecDeque<Outbound>,
}

impl Outbox {
    /// Takes one message received while no connection can carry it.
    fn hold(&mut self, msg: Option<Outbound>) {
        match msg {
            Some(m) if m.is_queued() => self.pending.push_back(m),
            // REGISTER and HEARTBEAT describe the present; the next connect regenerates them.
            Some(m) => debug!(message = ?m, "not queueing a stale link message"),
            None => self.open = false,
        }
    }

    /// Moves everything already sent by the producers into `pending`.
    fn absorb_ready(&mut self) {
        while let Ok(m) = self.rx.try_recv() {
            self.hold(Some(m));
        }
    }
}

enum Ended {
    Shutdown,
    Lost(ControlError),
}

/// One control link across all its connections.
struct Session {
    cfg: SessionConfig,
    capacity: watch::Receiver<i32>,
    /// False once the capacity sender is gone: the last value stays in force.
    capacity_open: bool,
    outbox: Outbox,
    inbound: mpsc::Sender<Inbound>,
    shutdown: CancellationToken,
    backoff: Backoff,
    /// Failures since the last successful connect: the first is logged loudly, repeats quietly.
    streak: u32,
    /// A connection was established before: the next one is a reconnect.
    connected_before: bool,
    /// The capacity of the latest REGISTER written on the current connection.
    registered: Option<i32>,
}

impl Session {
    async fn run(mut self) -> Result<(), ControlError> {
        loop {
            let Some(dialled) = self.drain_while(dial(self.cfg.clone())).await else {
                return self.finish(None).await;
            };
            let (failure, uptime) = match dialled {
                Err(e) => (e, Duration::ZERO),
                Ok(mut conn) => {
                    let connected_at = Instant::now();
                    let outcome = match self.greet(&mut conn).await {
                        Ok(()) => {
                            self.on_connected();
                            self.serve(&mut conn).await
                        }
                        Err(e) => Ended::Lost(e),
                    };
                    self.cfg.link.connected.set(0);
                    match outcome {
                        Ended::Shutdown => return self.finish(Some(conn)).await,
                        Ended::Lost(e) => (e, connected_at.elapsed()),
                    }
                }
            };
            self.report_failure(&failure);
            let delay = self.backoff.next_delay(uptime, &mut rand::rng());
            debug!(?delay, "waiting before redialling the coordinator");
            if self.drain_while(sleep(delay)).await.is_none() {
                return self.finish(None).await;
            }
        }
    }

    /// Awaits `fut` while taking in job messages, so producers never block on a dead link.
    /// `None` when shutdown came first.
    async fn drain_while<F: Future>(&mut self, fut: F) -> Option<F::Output> {
        tokio::pin!(fut);
        loop {
            tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => return None,
                out = &mut fut => return Some(out),
                msg = self.outbox.rx.recv(), if self.outbox.open => self.outbox.hold(msg),
            }
        }
    }

    /// Spec §7.2: REGISTER first, then everything queued, in order.
    async fn greet(&mut self, conn: &mut Conn) -> Result<(), ControlError> {
        let capacity = *self.capacity.borrow_and_update();
        self.write(conn, &Outbound::Register { capacity }).await?;
        debug!(capacity, "registered");
        self.flush_pending(conn).await
    }

    /// Writes queued messages oldest first; one that fails stays at the front for the next try.
    async fn flush_pending(&mut self, conn: &mut Conn) -> Result<(), ControlError> {
        while let Some(msg) = self.outbox.pending.front() {
            let msg = msg.clone();
            self.write(conn, &msg).await?;
            self.outbox.pending.pop_front();
        }
        Ok(())
    }

    /// Normal traffic on an open, registered connection.
    async fn serve(&mut self, conn: &mut Conn) -> Ended {
        let mut heartbeat = interval_at(Instant::now() + self.cfg.heartbeat, self.cfg.heartbeat);
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let read_deadline = sleep(self.cfg.read_timeout);
        tokio::pin!(read_deadline);
        let mut register_at: Option<Instant> = None;
        loop {
            tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => return Ended::Shutdown,
                frame = conn.next() => match frame {
                    Some(Ok(msg)) => {
                        read_deadline.as_mut().reset(Instant::now() + self.cfg.read_timeout);
                        if matches!(msg, Message::Close(_)) {
                            return Ended::Lost(ControlError::Closed);
                        }
                        self.on_frame(msg).await;
                    }
                    Some(Err(e)) => return Ended::Lost(e.into()),
                    None => return Ended::Lost(ControlError::Closed),
                },
                _ = &mut read_deadline => {
                    return Ended::Lost(ControlError::ReadTimeout(self.cfg.read_timeout));
                }
                _ = heartbeat.tick() => {
                    if let Err(e) = self.write(conn, &Outbound::Heartbeat).await {
                        return Ended::Lost(e);
                    }
                }
                changed = self.capacity.changed(), if self.capacity_open && register_at.is_none() => {
                    match changed {
                        Ok(()) => register_at = Some(Instant::now() + REGISTER_COALESCE),
                        Err(_) => self.capacity_open = false,
                    }
                }
                _ = sleep_until(register_at.unwrap_or_else(Instant::now)), if register_at.is_some() => {
                    register_at = None;
                    // Marks every change so far as sent: later ones trigger another REGISTER.
                    let capacity = *self.capacity.borrow_and_update();
                    if let Err(e) = self.write(conn, &Outbound::Register { capacity }).await {
                        return Ended::Lost(e);
                    }
                    debug!(capacity, "re-registered");
                }
                msg = self.outbox.rx.recv(), if self.outbox.open => match msg {
                    Some(msg) => {
                        if let Err(e) = self.write(conn, &msg).await {
                            self.outbox.hold(Some(msg));
                            return Ended::Lost(e);
                        }
                    }
                    None => self.outbox.open = false,
                },
            }
        }
    }

    async fn on_frame(&mut self, msg: Message) {
        let text = match msg {
            Message::Text(text) => text,
            Message::Binary(data) => {
                debug!(bytes = data.len(), "ignoring a binary frame");
                return;
            }
            _ => return,
        };
        if text.len() > MAX_FRAME_BYTES {
            warn!(bytes = text.len(), "dropping an oversized frame from the coordinator");
            return;
        }
        let msg = Inbound::parse(text.as_str());
        match &msg {
            Inbound::Heartbeat => {
                trace!("coordinator heartbeat");
                return;
            }
            Inbound::Unknown(method) => {
                debug!(%method, "ignoring an unknown method");
                return;
            }
            Inbound::Error { code, message } => {
                warn!(%code, %message, "the coordinator reported an error");
                return;
            }
            Inbound::EncodeStart(job) => {
                debug!(channel = %job.channel, stream_id = %job.stream_id, "ENCODE-START")
            }
            Inbound::EncodeStop { channel, stream_id, .. } => debug!(%channel, %stream_id, "ENCODE-STOP"),
        }
        tokio::select! {
            sent = self.inbound.send(msg) => if sent.is_err() {
                debug!("no one takes coordinator commands any more");
            },
            _ = self.shutdown.cancelled() => {}
        }
    }

    async fn write(&mut self, conn: &mut Conn, msg: &Outbound) -> Result<(), ControlError> {
        // A peer that stops reading would block a write forever; treat that as a dead link.
        let limit = self.cfg.read_timeout;
        match timeout(limit, conn.send(Message::text(msg.encode()))).await {
            Ok(result) => result?,
            Err(_) => return Err(ControlError::WriteTimeout(limit)),
        }
        if msg.is_queued() {
            debug!(message = ?msg, "sent");
        }
        if let Outbound::Register { capacity } = msg {
            self.registered = Some(*capacity);
        }
        Ok(())
    }

    fn on_connected(&mut self) {
        if self.connected_before {
            self.cfg.link.reconnects.inc();
        }
        self.connected_before = true;
        self.cfg.link.connected.set(1);
        if self.streak > 0 {
            info!(failures = self.streak, "control link re-established");
        } else {
            info!("control link established");
        }
        self.streak = 0;
    }

    fn report_failure(&mut self, e: &ControlError) {
        self.streak += 1;
        match (self.streak, e) {
            (1, ControlError::Forbidden) => {
                error!(error = %e, "coordinator refused the control link")
            }
            (1, _) => warn!(error = %e, "control link failed; reconnecting"),
            (n, _) => debug!(error = %e, failures = n, "control link still failing"),
        }
    }

    /// Shutdown: deliver what is queued within `flush_timeout`, redialling if needed, then close.
    async fn finish(mut self, conn: Option<Conn>) -> Result<(), ControlError> {
        self.outbox.absorb_ready();
        let deadline = Instant::now() + self.cfg.flush_timeout;
        if timeout_at(deadline, self.flush_before_exit(conn)).await.is_err() {
            for msg in &self.outbox.pending {
                error!(message = ?msg, "not delivered to the coordinator before shutdown");
            }
        }
        info!("control link closed");
        Ok(())
    }

    async fn flush_before_exit(&mut self, mut conn: Option<Conn>) {
        loop {
            if let Some(mut c) = conn.take() {
                // Spec §9.4: the shutdown's `Capacity:0` goes out before the link closes, even
                // when it came too late for the coalescing window.
                let capacity = *self.capacity.borrow();
                let register = if self.registered != Some(capacity) {
                    self.write(&mut c, &Outbound::Register { capacity }).await
                } else {
                    Ok(())
                };
                match register.and(self.flush_pending(&mut c).await) {
                    Ok(()) => {
                        let _ = c.close(None).await;
                        return;
                    }
                    Err(e) => debug!(error = %e, "flushing before shutdown failed"),
                }
            } else if self.outbox.pending.is_empty() {
                return;
            }
            match dial(self.cfg.clone()).await {
                Ok(mut c) => match self.greet(&mut c).await {
                    Ok(()) => conn = Some(c),
                    Err(e) => debug!(error = %e, "flushing before shutdown failed"),
                },
                Err(e) => debug!(error = %e, "redial before shutdown failed"),
            }
            if conn.is_none() {
                let delay = self.backoff.next_delay(Duration::ZERO, &mut rand::rng());
                sleep(delay).await;
            }
        }
    }
}

/// One dial attempt with a fresh token; takes its config by value so it can run while the
/// session keeps taking in job messages.
async fn dial(cfg: SessionConfig) -> Result<Conn, ControlError> {
    let mut request = cfg.url.as_str().into_client_request()?;
    if let Some(token) = control_token(cfg.secret.expose(), unix_now()) {
        // A JWT is base64url and dots, always a valid header value.
        if let Ok(value) = HeaderValue::from_str(&token) {
            request.headers_mut().insert("x-control-auth-token", value);
        }
    }
    let ws_config =
        WebSocketConfig::default().max_message_size(Some(MAX_WS_MESSAGE)).max_frame_size(Some(MAX_WS_MESSAGE));
    let connect = tokio_tungstenite::connect_async_with_config(request, Some(ws_config), true);
    match timeout(cfg.dial_timeout, connect).await {
        Err(_) => Err(ControlError::DialTimeout(cfg.dial_timeout)),
        Ok(Ok((conn, _response))) => Ok(conn),
        Ok(Err(tungstenite::Error::Http(response))) => match response.status().as_u16() {
            403 => Err(ControlError::Forbidden),
            status => Err(ControlError::Refused(status)),
        },
        Ok(Err(e)) => Err(e.into()),
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    fn cfg(url: &str) -> SessionConfig {
        let mut cfg = SessionConfig::new(Url::parse(url).unwrap(), "s");
        cfg.dial_timeout = Duration::from_secs(2);
        cfg
    }

    #[test]
    fn session_future_can_be_spawned() {
        fn assert_send<T: Send>(_: &T) {}
        let (_cap_tx, cap_rx) = watch::channel(-1);
        let (_out_tx, out_rx) = mpsc::channel(8);
        let (in_tx, _in_rx) = mpsc::channel(8);
        let fut = run(cfg("ws://127.0.0.1:1"), cap_rx, out_rx, in_tx, CancellationToken::new());
        assert_send(&fut);
    }

    #[tokio::test]
    async fn wss_dial_to_a_non_tls_peer_fails_cleanly() {
        crate::tls::ensure_crypto_provider();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            use tokio::io::AsyncWriteExt;
            let _ = sock.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        });
        let result = dial(cfg(&format!("wss://127.0.0.1:{port}/ws/control/hls"))).await;
        assert!(result.is_err(), "a plain-text peer cannot pass a TLS handshake");
        server.await.unwrap();
    }

    #[tokio::test]
    async fn dial_to_a_closed_port_is_an_error_not_a_hang() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let result = dial(cfg(&format!("ws://127.0.0.1:{port}/ws/control/hls"))).await;
        assert!(matches!(result, Err(ControlError::WebSocket(_))), "{result:?}");
    }

    #[tokio::test]
    async fn run_rejects_a_non_websocket_url() {
        let (_cap_tx, cap_rx) = watch::channel(-1);
        let (_out_tx, out_rx) = mpsc::channel(8);
        let (in_tx, _in_rx) = mpsc::channel(8);
        let result = run(cfg("http://127.0.0.1:1/"), cap_rx, out_rx, in_tx, CancellationToken::new()).await;
        assert!(matches!(result, Err(ControlError::InvalidUrl { .. })));
    }
}
