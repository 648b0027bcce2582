//! The LL-HLS side of the origin (RFC 8216bis §6.2.5.2 blocking playlist reload, §6.2.6
//! preload hints), learnt from the files alone: a worker (or `transcode`) appends each part to
//! the segment being made and then rewrites the rendition's `live.m3u8`; this module answers
//! `live.m3u8?_HLS_msn=M&_HLS_part=P` once the playlist lists that part, a ranged GET for the
//! hinted part with that part's bytes once the playlist lists them, and a GET for a segment
//! being made once the playlist lists it complete. What a file request gets from a playlist
//! is decided in `playlist` (pure); this module waits and answers.
//!
//! One `notify` watcher (inotify on Linux, a poll where inotify is unavailable) per watched
//! playlist, shared by every request waiting on it through a `tokio::sync::watch` of the
//! parsed playlist: a change is read and parsed once, however many viewers wait. The watcher
//! lives as long as a request holds it, so a viewer that disconnects while blocked drops its
//! share and the last one removes the watcher. `_HLS_skip` is ignored (the whole playlist is
//! sent, which RFC 8216bis allows: delta updates are optional for a server).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

pub mod playlist;

use playlist::{Answer, Ask, Playlist, Serve};

use axum::body::Body;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use notify::Watcher as _;
use tokio::sync::watch;

/// The watched state of one playlist, shared by every request that waits on it.
struct Watched {
    rx: watch::Receiver<Arc<Playlist>>,
    _watcher: Box<dyn notify::Watcher + Send + Sync>,
    counters: Arc<Counters>,
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.counters.watchers.fetch_sub(1, Ordering::Relaxed);
    }
}

#[derive(Default)]
struct Counters {
    watchers: AtomicUsize,
    waiters: AtomicUsize,
}

/// Every playlist watched by one server.
#[derive(Default, Clone)]
pub struct Origin {
    watched: Arc<Mutex<HashMap<PathBuf, Weak<Watched>>>>,
    counters: Arc<Counters>,
}

/// A request waiting; counted while it exists, so the test can see a disconnected viewer go.
struct Waiter {
    counters: Arc<Counters>,
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.counters.waiters.fetch_sub(1, Ordering::Relaxed);
    }
}

fn read_playlist(path: &Path) -> Option<Playlist> {
    std::fs::read_to_string(path).ok().map(|t| Playlist::parse(&t))
}

/// The playlist as it is on disk now (not as the watcher last saw it, which may lag by an
/// event), off the runtime's threads.
async fn read_playlist_async(path: &Path) -> Option<Playlist> {
    tokio::fs::read_to_string(path).await.ok().map(|t| Playlist::parse(&t))
}

/// Whether an event may mean new playlist content. inotify also reports opens and reads
/// (notify watches `IN_OPEN`): reading the playlist on those would make every read, ours
/// included, trigger another, and the watcher's thread would spin forever (never getting to
/// its shutdown message either).
fn changes_content(kind: &notify::EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode, EventKind};
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        EventKind::Any | EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) | EventKind::Other => true,
    }
}

/// The fallback poll interval where inotify cannot be used (e.g. the watch limit is reached).
const POLL: Duration = Duration::from_millis(100);

impl Origin {
    /// `(watchers, waiters)` now: what `/api/origin` reports.
    pub fn counts(&self) -> (usize, usize) {
        (self.counters.watchers.load(Ordering::Relaxed), self.counters.waiters.load(Ordering::Relaxed))
    }

    /// The shared watch of `playlist` (canonical path), started by the first request.
    fn watch(&self, playlist: &Path) -> Option<Arc<Watched>> {
        let mut map = self.watched.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = map.get(playlist).and_then(Weak::upgrade) {
            return Some(w);
        }
        map.retain(|_, w| w.strong_count() > 0);
        let first = read_playlist(playlist)?;
        let (tx, rx) = watch::channel(Arc::new(first));
        let path = playlist.to_path_buf();
        let handler = move |event: notify::Result<notify::Event>| {
            let Ok(event) = event else { return };
            if !changes_content(&event.kind) || !event.paths.iter().any(|p| p == &path) {
                return;
            }
            // A playlist is replaced by rename (or rewritten whole): read it as it is now.
            if let Some(fresh) = read_playlist(&path) {
                tx.send_if_modified(|old| {
                    let changed = old.text != fresh.text;
                    if changed {
                        *old = Arc::new(fresh);
                    }
                    changed
                });
            }
        };
        let dir = playlist.parent()?;
        // The directory, not the file: a rename over the playlist replaces its inode.
        let inotify = notify::recommended_watcher(handler.clone())
            .ok()
            .and_then(|mut w| w.watch(dir, notify::RecursiveMode::NonRecursive).is_ok().then_some(w));
        let watcher: Box<dyn notify::Watcher + Send + Sync> = match inotify {
            Some(w) => Box::new(w),
            None => {
                let config = notify::Config::default().with_poll_interval(POLL).with_compare_contents(true);
                let mut w = notify::PollWatcher::new(handler, config).ok()?;
                w.watch(playlist, notify::RecursiveMode::NonRecursive).ok()?;
                Box::new(w)
            }
        };
        self.counters.watchers.fetch_add(1, Ordering::Relaxed);
        let watched = Arc::new(Watched { rx, _watcher: watcher, counters: self.counters.clone() });
        map.insert(playlist.to_path_buf(), Arc::downgrade(&watched));
        Some(watched)
    }

    /// The playlist as its watcher last read it, if requests are watching it now.
    fn current(&self, playlist: &Path) -> Option<Arc<Playlist>> {
        let map = self.watched.lock().unwrap_or_else(|e| e.into_inner());
        map.get(playlist).and_then(Weak::upgrade).map(|w| w.rx.borrow().clone())
    }

    /// Waits until `ready` holds for the playlist, at most its hold limit. `None` when the
    /// playlist is gone; `Err` with the last playlist on timeout.
    async fn wait_for(
        &self,
        playlist: &Path,
        ready: impl Fn(&Playlist) -> bool,
    ) -> Option<Result<Arc<Playlist>, Arc<Playlist>>> {
        let watched = self.watch(playlist)?;
        self.counters.waiters.fetch_add(1, Ordering::Relaxed);
        let _waiter = Waiter { counters: self.counters.clone() };
        let mut rx = watched.rx.clone();
        let limit = rx.borrow().hold_limit();
        let found = match tokio::time::timeout(limit, rx.wait_for(|p| ready(p))).await {
            Ok(Ok(p)) => Some(p.clone()),
            _ => None,
        };
        Some(found.ok_or_else(|| rx.borrow().clone()))
    }

    /// `live.m3u8?_HLS_msn=..`: `None` when the query asks for no blocking (the file is then
    /// served as usual).
    pub async fn blocking_reload(&self, playlist: &Path, query: &str) -> Option<Response> {
        let mut msn = None;
        let mut part = None;
        let mut bad = false;
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let number = || value.parse::<u64>().ok();
            match key {
                "_HLS_msn" => {
                    msn = number().or_else(|| {
                        bad = true;
                        None
                    })
                }
                "_HLS_part" => {
                    part = number().or_else(|| {
                        bad = true;
                        None
                    })
                }
                _ => {} // `_HLS_skip` and cache busters: ignored.
            }
        }
        if bad || (part.is_some() && msn.is_none()) {
            return Some(bad_request("_HLS_msn must be a number, and _HLS_part needs _HLS_msn (RFC 8216bis §6.2.5.2)"));
        }
        let msn = msn?;
        // The watched playlist, when viewers already wait on it, spares a read per request; it
        // may lag the file by an event, so a refusal is only given on the file as it is now.
        let watched = self.current(playlist).filter(|p| !p.too_far_ahead(msn));
        let now = match watched {
            Some(p) => p,
            None => Arc::new(read_playlist_async(playlist).await?),
        };
        if now.too_far_ahead(msn) {
            return Some(bad_request("_HLS_msn is more than two segments beyond the playlist's last one"));
        }
        match self.wait_for(playlist, |p| p.has(msn, part)).await? {
            Ok(p) => Some(playlist_response(&p, true)),
            Err(_) => Some(
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::CACHE_CONTROL, "no-store"), (header::RETRY_AFTER, "1")],
                    "the requested part did not appear within three target durations; the stream may have stopped\n",
                )
                    .into_response(),
            ),
        }
    }

    /// A GET for a file next to a low-latency `live.m3u8`, with its Range header: how to serve
    /// it once the playlist lists what it asks for. A hinted part, or a segment still being
    /// made asked for whole, waits for the playlist that lists it (at most three target
    /// durations, then `503`); a range beyond the bytes listed of a segment being made is `416`.
    /// Beside a playlist without parts, every file is served as usual.
    pub async fn file(&self, file: &Path, range: Option<&str>) -> Result<Serve, Response> {
        let as_usual = Ok(Serve::AsUsual { immutable: false });
        let (Some(dir), Some(name)) = (file.parent(), file.file_name().and_then(|n| n.to_str())) else {
            return as_usual;
        };
        let playlist = dir.join("live.m3u8");
        if file == playlist {
            return as_usual;
        }
        let ask = Ask::from_header(range);
        // As for a reload: the watched playlist when there is one, unless what it says could
        // be out of date (a file it does not mention yet, a range beyond what it lists).
        let watched = self.current(&playlist).filter(|p| match p.answer(name, ask) {
            Answer::Ready(Serve::AsUsual { immutable }) => immutable,
            Answer::Ready(Serve::Bytes { .. }) | Answer::Wait => true,
            Answer::BeyondListed { .. } => false,
        });
        let now = match watched {
            Some(p) => p,
            None => match read_playlist_async(&playlist).await {
                Some(p) => Arc::new(p),
                None => return as_usual,
            },
        };
        let listed =
            match now.answer(name, ask) {
                Answer::Ready(serve) => return Ok(serve),
                Answer::BeyondListed { listed } => return Err(beyond_listed(listed)),
                Answer::Wait => match self.wait_for(&playlist, |p| p.answer(name, ask) != Answer::Wait).await {
                    Some(Ok(p)) => p.answer(name, ask),
                    Some(Err(_)) => return Err((
                        StatusCode::SERVICE_UNAVAILABLE,
                        [(header::CACHE_CONTROL, "no-store"), (header::RETRY_AFTER, "1")],
                        "the part or segment asked for was not written within three target durations; the stream may \
                         have stopped\n",
                    )
                        .into_response()),
                    None => return as_usual,
                },
            };
        match listed {
            Answer::Ready(serve) => Ok(serve),
            Answer::BeyondListed { listed } => Err(beyond_listed(listed)),
            Answer::Wait => as_usual,
        }
    }
}

/// `416` for a range of a segment being made that starts beyond its listed (complete) bytes:
/// the bytes on disk there may be half a part.
fn beyond_listed(listed: u64) -> Response {
    (
        StatusCode::RANGE_NOT_SATISFIABLE,
        [(header::CACHE_CONTROL, "no-store".to_string()), (header::CONTENT_RANGE, format!("bytes */{listed}"))],
        "that range of the segment being made is not written yet; ask for the part the playlist hints at\n",
    )
        .into_response()
}

fn bad_request(why: &'static str) -> Response {
    (StatusCode::BAD_REQUEST, [(header::CACHE_CONTROL, "no-store")], format!("{why}\n")).into_response()
}

/// A blocking response may be cached briefly by a CDN (every viewer asking for the same part
/// gets the same answer); half a target duration keeps a cached copy no staler than a plain
/// reload would be.
pub fn playlist_response(p: &Playlist, blocking: bool) -> Response {
    let cache = if blocking {
        format!("public, max-age={}", ((p.target_duration / 2.0).ceil() as u64).max(1))
    } else {
        "no-cache".to_string()
    };
    Response::builder()
        .header(header::CONTENT_TYPE, "application/vnd.apple.mpegurl")
        .header(header::CACHE_CONTROL, cache)
        .body(Body::from(p.text.to_string()))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
