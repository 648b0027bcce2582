//! `Stream-Source-Type: WS` (coordinator-protocol §10.3): the websocket stream server sends the
//! publisher's container byte stream as binary messages. A bridge thread reads
//! `{URI}/receive-clear-cache` (the whole cache since the publish began, then live data) and
//! writes the bytes into an OS pipe that libav opens as `pipe:N` and probes like any input.
//!
//! libav's blocking read on a pipe never consults the interrupt callback, so the bridge
//! enforces the deadlines instead: no data within the source timeout (first media, or a
//! silence while running) closes the pipe with the watchdog's `timed_out` set; a stop request
//! closes it too. libav then sees end of file, and the pipeline ends as for any source.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::time::{interval, sleep_until, timeout, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::Connector;

use super::source::SourceTls;
use super::watchdog::Watchdog;
use crate::redact::redact_url;
use crate::tls::{accept_any_certificate, trusting_only};

/// The server sends `h` every 20 s and expects the same (spec §10.3).
const HEARTBEAT: Duration = Duration::from_secs(20);
/// TCP + TLS + upgrade.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);
/// A live stream's chunks are small; anything this large is not one.
const MAX_MESSAGE: usize = 64 << 20;

/// The reading end of a bridged websocket source. Keep it alive while libav reads `url`.
pub struct WsFeed {
    /// `pipe:N`, for libav.
    pub url: String,
    /// Closed with the feed, after libav is done with it.
    _read_end: OwnedFd,
    /// Why the bridge ended the stream abnormally (refused key, connection failure), if it did.
    failure: Arc<Mutex<Option<String>>>,
}

impl WsFeed {
    /// The bridge's explanation for an input that ended or failed, without the stream key.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().ok().and_then(|f| f.clone())
    }
}

/// Starts the bridge for `uri` (`ws://ip:port/{ch}/{key}`, or `wss://`), checking a `wss://`
/// server's certificate as `tls` says.
pub fn open(uri: &str, watchdog: &Arc<Watchdog>, tls: &SourceTls) -> std::io::Result<WsFeed> {
    let (read_end, write_end) = pipe()?;
    let failure = Arc::new(Mutex::new(None));
    let bridge = Bridge {
        url: format!("{}/receive-clear-cache", uri.trim_end_matches('/')),
        shown: format!("{}/receive-clear-cache", redact_url(uri.trim_end_matches('/'))),
        watchdog: watchdog.clone(),
        tls: tls.clone(),
        failure: failure.clone(),
    };
    std::thread::Builder::new().name("ws-source".into()).spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
        let runtime = runtime.and_then(|rt| {
            // The async pipe registers with the runtime it is made in.
            let pipe = rt.block_on(async { tokio::net::unix::pipe::Sender::from_owned_fd(write_end) })?;
            Ok((rt, pipe))
        });
        match runtime {
            Ok((rt, pipe)) => rt.block_on(bridge.run(pipe)),
            Err(e) => bridge.fail(format!("cannot start the websocket reader: {e}")),
        }
    })?;
    Ok(WsFeed { url: format!("pipe:{}", read_end.as_raw_fd()), _read_end: read_end, failure })
}

/// A pipe whose write end is non-blocking (for tokio) and whose read end blocks (for libav).
fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors are fresh and owned by nobody else.
    let (read_end, write_end) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: plain fcntl on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(write_end.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(write_end.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
    Ok((read_end, write_end))
}

struct Bridge {
    url: String,
    /// `url` with the stream key replaced, for every message.
    shown: String,
    watchdog: Arc<Watchdog>,
    tls: SourceTls,
    failure: Arc<Mutex<Option<String>>>,
}

impl Bridge {
    fn fail(&self, why: String) {
        tracing::warn!("{why}");
        if let Ok(mut f) = self.failure.lock() {
            f.get_or_insert(why);
        }
    }

    /// Copies the stream into the pipe until the server closes it, the data stops, or a stop
    /// is requested; returning drops (closes) the pipe: libav's end of file.
    async fn run(self, mut pipe: tokio::net::unix::pipe::Sender) {
        let data_timeout = self.watchdog.timeout();
        let connector = match (&self.tls, self.url.starts_with("wss")) {
            (SourceTls { verify: false, .. }, _) => Some(accept_any_certificate()),
            (SourceTls { verify: true, ca_file: Some(ca_file) }, true) => match trusting_only(ca_file) {
                Ok(config) => Some(config),
                Err(e) => return self.fail(format!("cannot connect to {}: {e}", self.shown)),
            },
            // The system's roots (or plain ws://, where no TLS happens).
            _ => None,
        };
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE))
            .max_frame_size(Some(MAX_MESSAGE));
        let connect = tokio_tungstenite::connect_async_tls_with_config(
            self.url.as_str(),
            Some(config),
            true,
            connector.map(Connector::Rustls),
        );
        let mut ws = match timeout(DIAL_TIMEOUT, connect).await {
            Ok(Ok((ws, _))) => ws,
            Ok(Err(e)) => return self.fail(format!("cannot connect to {}: {}", self.shown, e)),
            Err(_) => return self.fail(format!("cannot connect to {}: no answer within {DIAL_TIMEOUT:?}", self.shown)),
        };
        tracing::info!(source = %self.shown, "websocket source connected");
        let mut heartbeat = interval(HEARTBEAT);
        let mut data_deadline = Instant::now() + data_timeout;
        let mut got_media = false;
        loop {
            tokio::select! {
                _ = heartbeat.tick() => {
                    if ws.send(Message::text("h")).await.is_err() {
                        return self.fail(format!("{}: the connection broke", self.shown));
                    }
                }
                () = self.watchdog.stopped() => {
                    let _ = ws.close(None).await;
                    return;
                }
                () = sleep_until(data_deadline) => {
                    self.watchdog.timed_out.store(true, Ordering::Relaxed);
                    tracing::warn!(source = %self.shown, "no data for {} s", data_timeout.as_secs());
                    return;
                }
                msg = ws.next() => match msg {
                    Some(Ok(Message::Binary(data))) => {
                        data_deadline = Instant::now() + data_timeout;
                        got_media = true;
                        if pipe.write_all(&data).await.is_err() {
                            // libav closed its end: the pipeline is over.
                            return;
                        }
                    }
                    Some(Ok(Message::Text(text))) if text.as_str() == "h" => {}
                    Some(Ok(Message::Text(text))) if text.starts_with("ERROR") => {
                        let text: String = text.chars().filter(|c| !c.is_control()).take(200).collect();
                        return self.fail(format!("{} refused the stream: {text}", self.shown));
                    }
                    Some(Ok(Message::Close(_))) | None => {
                        tracing::info!(source = %self.shown, "websocket source closed: end of stream");
                        return;
                    }
                    Some(Ok(_)) => {}
                    // The real ws-stream-server ends a publish with a bare TCP close (no close
                    // frame): after media that is the end of the stream (spec §10.3), not a fault.
                    Some(Err(e)) if got_media && is_bare_close(&e) => {
                        tracing::info!(source = %self.shown, "websocket source closed: end of stream");
                        return;
                    }
                    Some(Err(e)) => return self.fail(format!("{}: {e}", self.shown)),
                },
            }
        }
    }
}

/// A connection that ended without a closing handshake (reset or plain EOF).
fn is_bare_close(e: &tokio_tungstenite::tungstenite::Error) -> bool {
    use tokio_tungstenite::tungstenite::error::ProtocolError;
    use tokio_tungstenite::tungstenite::Error;
    match e {
        Error::ConnectionClosed | Error::AlreadyClosed => true,
        Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => true,
        Error::Io(io) => matches!(
            io.kind(),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::BrokenPipe
        ),
        _ => false,
    }
}
