//! One rendition's push connection (output-layout §14): dial a server, `PUSH` with the token,
//! wait for `OK`, then `F:duration` and the segment's bytes for every published segment in
//! order, `H` every 30 s, and `CLOSE` at the end. A server that refuses, stalls or drops the
//! connection is retried with backoff (1 s doubling to 30 s) while the stream goes on; up to
//! 10 segments wait while not ready, the oldest dropped beyond that. The push never delays
//! storage or publication: the publisher hands segments over without waiting.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::time::{interval_at, sleep, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use super::{choose_server, fragment_message, push_message, CdnConfig, ServerMessage};
use crate::pipeline::clock::Q;

/// Segments that wait while the connection is not ready (§14).
const WAITING: usize = 10;
/// Segments handed over but not yet taken by the task; more are dropped (never blocks).
const HANDOVER: usize = 32;
const HEARTBEAT: Duration = Duration::from_secs(30);
const READ_TIMEOUT: Duration = Duration::from_secs(60);
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// When each configured server last failed, shared by the renditions of a stream.
pub type ServerHealth = Arc<Mutex<Vec<Option<Instant>>>>;

pub struct Segment {
    pub duration: Q,
    pub data: Bytes,
}

/// The publisher's side of a push: hand segments over, drop it to end the push.
pub struct Pusher {
    tx: mpsc::Sender<Segment>,
}

impl Pusher {
    /// Hands a published segment over; never waits.
    pub fn push(&self, segment: Segment) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(segment) {
            tracing::warn!("CDN push is behind: a segment was dropped from it (storage has it)");
        }
    }
}

/// Starts the push of `stream_id` (the rendition's live index file). `ready` gets `rung`
/// once the server said `OK`, or once the push is given up for good, so that the HLS-LIVE
/// announcement never waits for it longer than it must.
pub fn start(
    config: Arc<CdnConfig>,
    servers: ServerHealth,
    stream_id: String,
    rung: usize,
    ready: mpsc::UnboundedSender<usize>,
    abort: CancellationToken,
) -> (Pusher, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(HANDOVER);
    let task = Push { config, servers, stream_id, rung, ready: Some(ready), rx, waiting: VecDeque::new(), open: true };
    let handle = tokio::spawn(
        async move {
            tokio::select! {
                () = task.run() => {}
                () = abort.cancelled() => {}
            }
        }
        .in_current_span(),
    );
    (Pusher { tx }, handle)
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Push {
    config: Arc<CdnConfig>,
    servers: ServerHealth,
    stream_id: String,
    rung: usize,
    ready: Option<mpsc::UnboundedSender<usize>>,
    rx: mpsc::Receiver<Segment>,
    /// Segments not yet sent, oldest first.
    waiting: VecDeque<Segment>,
    /// False once the publisher dropped its side: the stream has ended.
    open: bool,
}

enum Failure {
    /// Try another connection after a backoff.
    Retry(String),
    /// The connection was ready, then broke: try again soon (backoff starts over).
    Lost(String),
    /// The stream ended while not connected: nothing left to do.
    Ended,
}

impl Push {
    async fn run(mut self) {
        crate::tls::ensure_crypto_provider();
        let Some(hello) = push_message(&self.stream_id, self.config.push_secret.expose(), SystemTime::now()) else {
            tracing::error!(stream = %self.stream_id, "CDN push off for this rendition: its stream id is longer \
                than the CDN server accepts (255 characters); shorten the channel or stream names");
            self.release();
            return;
        };
        let mut backoff = FIRST_BACKOFF;
        let mut failures = 0u32;
        loop {
            let server = self.pick_server();
            let url = self.config.urls[server].clone();
            match self.session(&url, &hello).await {
                Ok(()) => return,
                Err(Failure::Ended) => return,
                Err(Failure::Lost(why)) => {
                    if let Ok(mut servers) = self.servers.lock() {
                        servers[server] = Some(Instant::now());
                    }
                    tracing::warn!(cdn = %url, "CDN push connection lost ({why}); reconnecting");
                    backoff = FIRST_BACKOFF;
                    failures = 0;
                }
                Err(Failure::Retry(why)) => {
                    if let Ok(mut servers) = self.servers.lock() {
                        servers[server] = Some(Instant::now());
                    }
                    failures += 1;
                    if failures == 1 || failures.is_power_of_two() {
                        tracing::warn!(cdn = %url, failures, "CDN push failed ({why}); retrying in {backoff:?}");
                    }
                }
            }
            if !self.wait_while_buffering(backoff).await {
                return;
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    fn pick_server(&self) -> usize {
        let servers = self.servers.lock().map(|s| s.clone()).unwrap_or_default();
        choose_server(&servers, Instant::now(), rand::random::<u32>() as usize)
    }

    /// Tells the publisher not to hold the HLS-LIVE announcement for this rendition.
    fn release(&mut self) {
        if let Some(ready) = self.ready.take() {
            let _ = ready.send(self.rung);
        }
    }

    fn keep(&mut self, segment: Segment) {
        if segment.data.is_empty() {
            return; // an empty binary message is a protocol error (§14.1)
        }
        if self.waiting.len() == WAITING {
            self.waiting.pop_front();
        }
        self.waiting.push_back(segment);
    }

    /// Sleeps `wait` while taking segments in. False when the stream ended meanwhile.
    async fn wait_while_buffering(&mut self, wait: Duration) -> bool {
        let until = tokio::time::Instant::now() + wait;
        while self.open {
            tokio::select! {
                () = tokio::time::sleep_until(until) => return true,
                segment = self.rx.recv() => match segment {
                    Some(s) => self.keep(s),
                    None => self.open = false,
                },
            }
        }
        false
    }

    /// One connection: handshake, then segments until the stream ends (`Ok`) or it fails.
    async fn session(&mut self, url: &str, hello: &str) -> Result<(), Failure> {
        let (mut ws, _) = match timeout(DIAL_TIMEOUT, tokio_tungstenite::connect_async(url)).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return Err(Failure::Retry(format!("cannot connect: {e}"))),
            Err(_) => return Err(Failure::Retry("no answer within 10 s".into())),
        };
        send(&mut ws, Message::text(hello)).await?;
        self.await_ok(&mut ws).await?;
        tracing::info!(cdn = %url, stream = %self.stream_id, "CDN push ready");
        self.release();
        self.stream(&mut ws).await.map_err(|f| match f {
            Failure::Retry(why) => Failure::Lost(why),
            other => other,
        })
    }

    /// Ready: sends what waits and what comes, with heartbeats, until the stream ends.
    async fn stream(&mut self, ws: &mut Socket) -> Result<(), Failure> {
        let mut heartbeat = interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
        let mut read_deadline = tokio::time::Instant::now() + READ_TIMEOUT;
        loop {
            while let Some(segment) = self.waiting.front() {
                send(ws, Message::text(fragment_message(segment.duration))).await?;
                send(ws, Message::binary(segment.data.clone())).await?;
                self.waiting.pop_front();
            }
            if !self.open {
                let _ = ws.send(Message::text("CLOSE")).await;
                let _ = ws.close(None).await;
                return Ok(());
            }
            tokio::select! {
                segment = self.rx.recv() => match segment {
                    Some(s) => self.keep(s),
                    None => self.open = false,
                },
                _ = heartbeat.tick() => send(ws, Message::text("H")).await?,
                () = tokio::time::sleep_until(read_deadline) => {
                    return Err(Failure::Retry("the server said nothing for 60 s".into()));
                }
                msg = ws.next() => match msg {
                    Some(Ok(Message::Text(text))) => {
                        read_deadline = tokio::time::Instant::now() + READ_TIMEOUT;
                        if let ServerMessage::Error(e) = ServerMessage::parse(&text) {
                            return Err(Failure::Retry(e));
                        }
                    }
                    Some(Ok(Message::Close(_))) | None => return Err(Failure::Retry("the server closed the connection".into())),
                    Some(Ok(_)) => read_deadline = tokio::time::Instant::now() + READ_TIMEOUT,
                    Some(Err(e)) => return Err(Failure::Retry(e.to_string())),
                },
            }
        }
    }

    /// Waits for `OK` while taking segments in (they wait, up to 10).
    async fn await_ok(&mut self, ws: &mut Socket) -> Result<(), Failure> {
        let deadline = sleep(READ_TIMEOUT);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                () = &mut deadline => return Err(Failure::Retry("no OK within 60 s".into())),
                segment = self.rx.recv(), if self.open => match segment {
                    Some(s) => self.keep(s),
                    None => self.open = false,
                },
                msg = ws.next() => match msg {
                    Some(Ok(Message::Text(text))) => match ServerMessage::parse(&text) {
                        ServerMessage::Ok => return Ok(()),
                        ServerMessage::Error(e) => return Err(Failure::Retry(format!("refused: {e}"))),
                        _ => {}
                    },
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(Failure::Retry(e.to_string())),
                    None => return Err(Failure::Retry("closed before OK".into())),
                },
            }
            if !self.open && self.waiting.is_empty() {
                // Ended before the server was ready and nothing to deliver.
                return Err(Failure::Ended);
            }
        }
    }
}

async fn send(ws: &mut Socket, message: Message) -> Result<(), Failure> {
    ws.send(message).await.map_err(|e| Failure::Retry(format!("send failed: {e}")))
}
