//! A real storage server on loopback for the integration tests: PUT stores the body (201),
//! DELETE removes it (204, or 404 when missing), every request is recorded, and the replies
//! to a path can be scripted (a status, or a stall). S3 clients can use it as an endpoint too.

use super::loopback::Loopback;
use hls_ladder::storage::StoragePath;
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::HeaderMap;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// What the server does with the next request on a path, instead of its normal behaviour.
#[derive(Debug, Clone, Copy)]
pub enum Reply {
    /// Answer this status with a short text body; a 2xx still stores a PUT body.
    Status(u16),
    /// Answer this status with this body (e.g. a JSON token); a 2xx still stores a PUT body.
    Body(u16, &'static str),
    /// Wait this long before answering 201.
    Stall(Duration),
}

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub peer: SocketAddr,
}

#[derive(Default)]
struct State {
    objects: HashMap<String, Bytes>,
    log: Vec<Recorded>,
    script: HashMap<String, VecDeque<Reply>>,
    /// Every request not otherwise scripted stalls this long (a storage that hangs).
    stall_all: Option<Duration>,
    /// Every request not otherwise scripted fails with this status (a storage outage).
    fail_all: Option<u16>,
}

/// The server: PUT stores (201), DELETE removes (204, or 404 when missing), every
/// request is recorded, and replies can be scripted per path.
pub struct Server {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    _server: Loopback,
}

impl Server {
    pub async fn start() -> Server {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let server = Loopback::spawn(|listener| async move {
            while let Ok((stream, peer)) = listener.accept().await {
                let state = shared.clone();
                let service = hyper::service::service_fn(move |req| handle(state.clone(), peer, req));
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        })
        .await;
        Server { addr: server.addr, state, _server: server }
    }

    pub fn url(&self, base_path: &str) -> String {
        format!("http://{}{}", self.addr, base_path)
    }

    pub fn script(&self, path: &str, replies: &[Reply]) {
        let mut state = self.state.lock().unwrap();
        state.script.entry(path.to_string()).or_default().extend(replies);
    }

    /// From now on every request without a scripted reply waits `wait` before its answer.
    pub fn stall_everything(&self, wait: Duration) {
        self.state.lock().unwrap().stall_all = Some(wait);
    }

    /// Back to normal answers after [`Self::stall_everything`].
    pub fn stop_stalling(&self) {
        self.state.lock().unwrap().stall_all = None;
    }

    /// From now on every request without a scripted reply fails with `status`, until
    /// called again with `None`.
    pub fn fail_everything(&self, status: Option<u16>) {
        self.state.lock().unwrap().fail_all = status;
    }

    pub fn object(&self, path: &str) -> Option<Bytes> {
        self.state.lock().unwrap().objects.get(path).cloned()
    }

    pub fn log(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().log.clone()
    }
}

async fn handle(
    state: Arc<Mutex<State>>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let path = parts.uri.path().to_string();
    let method = parts.method.as_str().to_string();
    let scripted = {
        let mut s = state.lock().unwrap();
        s.log.push(Recorded {
            method: method.clone(),
            path: path.clone(),
            headers: parts.headers.clone(),
            body: body.clone(),
            peer,
        });
        let outage = s.fail_all.map(Reply::Status);
        s.script.get_mut(&path).and_then(VecDeque::pop_front).or(outage).or(s.stall_all.map(Reply::Stall))
    };
    let status = match scripted {
        Some(Reply::Stall(wait)) => {
            tokio::time::sleep(wait).await;
            201
        }
        Some(Reply::Status(status)) => {
            store_if_success(&state, &method, status, path, body);
            return Ok(reply(status, format!("scripted failure {status}\n")));
        }
        Some(Reply::Body(status, text)) => {
            store_if_success(&state, &method, status, path, body);
            return Ok(reply(status, text.to_string()));
        }
        None if method == "PUT" => {
            state.lock().unwrap().objects.insert(path, body);
            201
        }
        None if method == "DELETE" => match state.lock().unwrap().objects.remove(&path) {
            Some(_) => 204,
            None => 404,
        },
        None => 405,
    };
    Ok(reply(status, String::new()))
}

fn store_if_success(state: &Mutex<State>, method: &str, status: u16, path: String, body: Bytes) {
    if method == "PUT" && (200..300).contains(&status) {
        state.lock().unwrap().objects.insert(path, body);
    }
}

fn reply(status: u16, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        // S3 clients insist on an ETag after a PUT; plain HTTP clients ignore it.
        .header("etag", "\"0\"")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

/// Starts an external server (moto, Azurite) on a free loopback port and waits until it
/// listens. `command` builds its command line for the port. The process is spawned from a
/// thread that lives as long as the test process and gets SIGKILL when that process ends
/// (PR_SET_PDEATHSIG), so no server outlives the tests, whichever way they end.
pub fn start_service(what: &'static str, command: impl FnOnce(u16) -> Command + Send + 'static) -> u16 {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let log = std::env::temp_dir().join(format!("storage-test-service-{port}.log"));
    let log_for_thread = log.clone();
    let (started, wait_started) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let log_file = std::fs::File::create(&log_for_thread).unwrap();
        let mut command = command(port);
        command.stdin(Stdio::null()).stdout(log_file.try_clone().unwrap()).stderr(log_file);
        // SAFETY: prctl is async-signal-safe and affects only the child.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let spawned = command.spawn().map(drop).map_err(|e| e.to_string());
        started.send(spawned).unwrap();
        loop {
            std::thread::park();
        }
    });
    if let Err(e) = wait_started.recv().unwrap() {
        panic!("cannot start {what}: {e}");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            let output = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("{what} did not listen on port {port} within 30 s; its output:\n{output}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    port
}

/// Reads an object back through an independent object_store client: its bytes, content
/// type and cache control, as the backend stored them.
/// A storage path the backend tests know to be valid.
pub fn path(p: &str) -> StoragePath {
    StoragePath::new(p).unwrap()
}

pub async fn read_object(store: &impl object_store::ObjectStore, key: &str) -> (Bytes, String, String) {
    use object_store::{Attribute, ObjectStoreExt};
    let result = store.get(&object_store::path::Path::from(key)).await.unwrap();
    let attribute = |a| result.attributes.get(&a).map(|v| v.to_string()).unwrap_or_default();
    let (content_type, cache) = (attribute(Attribute::ContentType), attribute(Attribute::CacheControl));
    (result.bytes().await.unwrap(), content_type, cache)
}

/// Whether the object exists, asked through an independent object_store client (a missing
/// object is `false`; any other error fails the test).
pub async fn object_exists(store: &impl object_store::ObjectStore, key: &str) -> bool {
    use object_store::ObjectStoreExt;
    match store.head(&object_store::path::Path::from(key)).await {
        Ok(_) => true,
        Err(object_store::Error::NotFound { .. }) => false,
        Err(e) => panic!("HEAD {key}: {e}"),
    }
}
