//! `hls-ladder serve DIR`, and `transcode --serve ADDR`: a storage root over HTTP with a
//! stream list and a player page, so that a stream can be watched in a browser while it is
//! produced. Everything the pages need is in the binary (hls.js is vendored), so it works
//! offline.
//!
//! # Layout
//! - `files`: path resolution that cannot leave the root, content types, cache headers,
//!   ranges (the security-sensitive part, tested with hostile paths).
//! - `live`: the LL-HLS origin: blocking playlist reload and preload hints (parts as byte
//!   ranges of the growing segment), learnt from the files through one shared watcher per
//!   playlist; `live::playlist` decides what a request gets from a playlist (pure).
//! - `pages`: the streams found under `hls/{channel}/{stream_id}/`, the list page and the
//!   stream page.
//! - `assets/`: the pages' script and style, and hls.js with its license.
//! - this file: the routes and the server's life.
//!
//! Routes: `/` (stream list), `/watch/{channel}/{stream_id}` (player), `/api/streams` and
//! `/api/streams/{channel}/{stream_id}` (JSON), `/assets/*`, `/api/origin` (the LL-HLS watchers and waiting requests, JSON); every other path is a file of
//! the root (`/hls/...`, `/img-preview/...`), or 404.

pub mod files;
pub mod live;
pub mod pages;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use clap::Args;
use tokio_util::sync::CancellationToken;

use crate::control::message::validate_id;
use live::playlist::Serve;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Storage root to serve: a transcode's OUT_DIR, or the worker's HLS_FILESYSTEM_PATH.
    pub dir: PathBuf,
    /// Address and port to listen on (0.0.0.0:PORT for every interface).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
}

struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "player.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("assets/player.js"),
    },
    Asset { name: "style.css", content_type: "text/css; charset=utf-8", bytes: include_bytes!("assets/style.css") },
    Asset {
        name: "hls.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("assets/hls.min.js"),
    },
    Asset {
        name: "hls.js-LICENSE.txt",
        content_type: "text/plain; charset=utf-8",
        bytes: include_bytes!("assets/hls.js-LICENSE"),
    },
];

/// The canonical storage root every handler resolves paths against.
#[derive(Clone)]
struct Root(Arc<PathBuf>);

#[derive(Clone)]
struct AppState {
    root: Root,
    origin: live::Origin,
}

impl axum::extract::FromRef<AppState> for Root {
    fn from_ref(state: &AppState) -> Root {
        state.root.clone()
    }
}

/// The routes over `root`, which must be canonical.
pub fn router(root: PathBuf) -> Router {
    Router::new()
        .route("/", get(list_page))
        .route("/watch/{channel}/{stream_id}", get(stream_page))
        .route("/api/streams", get(list_json))
        .route("/api/streams/{channel}/{stream_id}", get(stream_json))
        .route("/assets/{name}", get(asset))
        .route("/api/origin", get(origin_json))
        .fallback(file)
        .with_state(AppState { root: Root(Arc::new(root)), origin: live::Origin::default() })
        .layer(axum::middleware::map_response(files::add_common_headers))
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    tokio::task::spawn_blocking(f).await.ok()
}

fn no_cache<T: IntoResponse>(body: T) -> Response {
    ([(header::CACHE_CONTROL, "no-cache")], body).into_response()
}

async fn list_page(State(Root(root)): State<Root>) -> Response {
    let page = blocking(move || pages::list_page(&pages::streams(&root))).await;
    page.map_or_else(|| StatusCode::INTERNAL_SERVER_ERROR.into_response(), |html| no_cache(Html(html)))
}

async fn list_json(State(Root(root)): State<Root>) -> Response {
    let streams = blocking(move || pages::streams(&root)).await;
    streams.map_or_else(|| StatusCode::INTERNAL_SERVER_ERROR.into_response(), |s| no_cache(Json(s)))
}

async fn find_stream(root: Arc<PathBuf>, channel: String, stream_id: String) -> Option<pages::StreamInfo> {
    blocking(move || pages::stream(&root, &channel, &stream_id)).await.flatten()
}

/// The page of a stream that has not started yet waits for it, so a valid name is enough.
async fn stream_page(UrlPath((channel, stream_id)): UrlPath<(String, String)>) -> Response {
    if !validate_id(&channel) || !validate_id(&stream_id) {
        return files::not_found();
    }
    no_cache(Html(pages::stream_page(&channel, &stream_id)))
}

/// `null` for a stream that does not exist (yet): the page polls this while it waits, and a
/// 404 would be a console error every time.
async fn stream_json(
    State(Root(root)): State<Root>,
    UrlPath((channel, stream_id)): UrlPath<(String, String)>,
) -> Response {
    if !validate_id(&channel) || !validate_id(&stream_id) {
        return files::not_found();
    }
    no_cache(Json(find_stream(root, channel, stream_id).await))
}

async fn asset(UrlPath(name): UrlPath<String>) -> Response {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(a) => {
            ([(header::CONTENT_TYPE, a.content_type), (header::CACHE_CONTROL, "no-cache")], a.bytes).into_response()
        }
        None => files::not_found(),
    }
}

async fn origin_json(State(state): State<AppState>) -> Response {
    let (watchers, waiters) = state.origin.counts();
    no_cache(Json(serde_json::json!({ "watchers": watchers, "waiters": waiters })))
}

/// Where a request path would lie inside the root once written: its directory exists inside
/// the root (symlinks resolved); the file itself may not exist yet (a hinted part).
async fn future_path(root: &Path, raw: &str) -> Option<PathBuf> {
    let relative = files::relative_path(raw)?;
    let name = relative.file_name()?.to_owned();
    let dir = tokio::fs::canonicalize(root.join(relative.parent()?)).await.ok()?;
    dir.starts_with(root).then(|| dir.join(name))
}

async fn file(State(state): State<AppState>, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let Root(root) = &state.root;
    if method == Method::OPTIONS {
        return files::preflight();
    }
    let mut immutable = false;
    if method == Method::GET || method == Method::HEAD {
        if let Some(path) = future_path(root, uri.path()).await {
            let is_playlist = path.extension().is_some_and(|e| e == "m3u8");
            if is_playlist {
                if let Some(query) = uri.query().filter(|q| q.contains("_HLS_")) {
                    if let Some(response) = state.origin.blocking_reload(&path, query).await {
                        return response;
                    }
                }
            } else {
                let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
                match state.origin.file(&path, range).await {
                    Ok(Serve::AsUsual { immutable: listed }) => immutable = listed,
                    Ok(Serve::Bytes { start, end, complete }) => {
                        return files::serve_bytes(root, &method, uri.path(), start, end, complete).await
                    }
                    Err(response) => return response,
                }
            }
        }
    }
    let mut response = files::serve_file(root, &method, uri.path(), &headers).await;
    if immutable && response.status().is_success() {
        response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static(files::IMMUTABLE));
    }
    response
}

/// A bound server, not yet answering.
pub struct Server {
    listener: tokio::net::TcpListener,
    root: PathBuf,
}

impl Server {
    /// Binds `addr` over the directory `dir` (which must exist).
    pub async fn bind(addr: SocketAddr, dir: &Path) -> anyhow::Result<Server> {
        let root = std::fs::canonicalize(dir).with_context(|| format!("the directory to serve, {}", dir.display()))?;
        anyhow::ensure!(root.is_dir(), "{} is not a directory", dir.display());
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("listening on {addr}"))?;
        Ok(Server { listener, root })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Answers until `shutdown` completes; requests under way then finish.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        axum::serve(self.listener, router(self.root)).with_graceful_shutdown(shutdown).await.context("HTTP server")
    }
}

/// `transcode --serve`: serves `dir` (created if missing) on the current runtime until the
/// returned token is cancelled (or the runtime ends).
pub async fn spawn(addr: SocketAddr, dir: &Path) -> anyhow::Result<(SocketAddr, CancellationToken)> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let server = Server::bind(addr, dir).await?;
    let local = server.local_addr();
    let stop = CancellationToken::new();
    let shutdown = stop.clone().cancelled_owned();
    tokio::spawn(async move {
        if let Err(e) = server.run(shutdown).await {
            tracing::error!("serving the output stopped: {e:#}");
        }
    });
    Ok((local, stop))
}

/// `hls-ladder serve DIR`: until `shutdown` completes (the binary passes Ctrl-C).
pub async fn run(args: ServeArgs, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let server = Server::bind(args.listen, &args.dir).await?;
    let addr = server.local_addr();
    tracing::info!(dir = %server.root.display(), "serving on http://{addr}/ (Ctrl-C stops)");
    server.run(shutdown).await
}
