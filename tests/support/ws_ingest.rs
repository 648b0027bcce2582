//! A fake websocket stream server (the WS ingest of coordinator-protocol §10.3) on
//! 127.0.0.1:0: `/{ch}/{key}/receive-clear-cache` sends a container byte stream as binary
//! messages, paced like a live publisher, then closes (end of publish). A wrong key gets the
//! real server's `ERROR: Invalid streaming key` and a close. It records the paths requested
//! and the text messages received (the worker's `h` heartbeats).

use super::loopback::Loopback;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;

#[derive(Default)]
struct Log {
    paths: Vec<String>,
    texts: Vec<String>,
}

pub struct WsIngest {
    pub addr: SocketAddr,
    log: Arc<Mutex<Log>>,
    _server: Loopback,
}

impl WsIngest {
    /// Serves `stream` for channel `ch` and key `key`, spread over `seconds` of wall time.
    pub async fn start(ch: &str, key: &str, stream: Vec<u8>, seconds: f64) -> WsIngest {
        let log = Arc::new(Mutex::new(Log::default()));
        let (shared, stream) = (log.clone(), Arc::new(stream));
        let good = format!("/{ch}/{key}/receive-clear-cache");
        let server = Loopback::spawn(|listener| async move {
            while let Ok((sock, _)) = listener.accept().await {
                let (log, stream, good) = (shared.clone(), stream.clone(), good.clone());
                tokio::spawn(async move {
                    let mut path = String::new();
                    // The callback type is fixed by tungstenite, large error response included.
                    #[allow(clippy::result_large_err)]
                    let record = |req: &Request, resp: Response| {
                        path = req.uri().path().to_string();
                        Ok(resp)
                    };
                    let Ok(ws) = tokio_tungstenite::accept_hdr_async(sock, record).await else { return };
                    log.lock().unwrap().paths.push(path.clone());
                    serve(ws, path == good, &stream, seconds, &log).await;
                });
            }
        })
        .await;
        WsIngest { addr: server.addr, log, _server: server }
    }

    pub fn uri(&self, ch: &str, key: &str) -> String {
        format!("ws://{}/{ch}/{key}", self.addr)
    }

    pub fn paths(&self) -> Vec<String> {
        self.log.lock().unwrap().paths.clone()
    }

    pub fn texts(&self) -> Vec<String> {
        self.log.lock().unwrap().texts.clone()
    }
}

async fn serve<S>(ws: tokio_tungstenite::WebSocketStream<S>, valid: bool, stream: &[u8], seconds: f64, log: &Mutex<Log>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut tx, mut rx) = ws.split();
    if !valid {
        let _ = tx.send(Message::text("ERROR: Invalid streaming key")).await;
        let _ = tx.close().await;
        return;
    }
    let chunks: Vec<&[u8]> = stream.chunks(188 * 64).collect();
    let pause = Duration::from_secs_f64(seconds / chunks.len().max(1) as f64);
    let mut chunks = chunks.into_iter();
    loop {
        tokio::select! {
            msg = rx.next() => match msg {
                Some(Ok(Message::Text(t))) => log.lock().unwrap().texts.push(t.to_string()),
                Some(Ok(_)) => {}
                _ => return,
            },
            _ = tokio::time::sleep(pause) => match chunks.next() {
                Some(chunk) => if tx.send(Message::binary(chunk.to_vec())).await.is_err() { return },
                // The real ws-stream-server ends a publish with a bare TCP close, no close frame.
                None => return,
            },
        }
    }
}
