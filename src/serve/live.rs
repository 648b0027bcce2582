//! The LL-HLS side of the origin (RFC 8216bis §6.2.5.2 blocking playlist reload, §6.2.6
//! preload hints), learnt from the files alone: a worker (or `transcode`) writes a
//! rendition's `live.m3u8` and its parts, and this module answers
//! `live.m3u8?_HLS_msn=M&_HLS_part=P` once the playlist lists that part, and a GET for the
//! hinted part once the playlist lists it as written.
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

use axum::body::Body;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use notify::Watcher as _;
use tokio::sync::watch;

/// What the origin needs of a media playlist.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Playlist {
    pub text: Arc<str>,
    pub target_duration: f64,
    pub media_sequence: u64,
    /// Complete segments listed (`EXTINF` + URI).
    pub segments: u64,
    /// `EXT-X-PART` lines after the last complete segment: parts of the segment being made.
    pub trailing_parts: u64,
    /// URIs listed as parts or segments (all written, invariant 1).
    pub listed: Vec<String>,
    pub preload_hint: Option<String>,
    /// `EXT-X-PART-INF` present: a low-latency playlist.
    pub low_latency: bool,
    pub ended: bool,
}

fn attribute<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let (_, attrs) = line.split_once(':')?;
    // Attribute values here (URI, TYPE) never contain commas except inside quotes; split on
    // commas outside quotes.
    let mut rest = attrs;
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (&quoted[..end], quoted[end + 1..].trim_start_matches(','))
        } else {
            match after.split_once(',') {
                Some((v, n)) => (v, n),
                None => (after, ""),
            }
        };
        if key.trim() == name {
            return Some(value);
        }
        rest = next;
    }
    None
}

impl Playlist {
    pub fn parse(text: &str) -> Playlist {
        let mut p = Playlist { text: Arc::from(text), ..Playlist::default() };
        let mut in_segment = false;
        for line in text.lines().map(str::trim) {
            if let Some(v) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
                p.target_duration = v.trim().parse().unwrap_or(0.0);
            } else if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
                p.media_sequence = v.trim().parse().unwrap_or(0);
            } else if line.starts_with("#EXT-X-PART-INF") {
                p.low_latency = true;
            } else if line.starts_with("#EXT-X-PART:") {
                p.trailing_parts += 1;
                if let Some(uri) = attribute(line, "URI") {
                    p.listed.push(uri.to_string());
                }
            } else if line.starts_with("#EXT-X-PRELOAD-HINT:") {
                if attribute(line, "TYPE") == Some("PART") {
                    p.preload_hint = attribute(line, "URI").map(str::to_string);
                }
            } else if line.starts_with("#EXTINF") {
                in_segment = true;
            } else if line.starts_with("#EXT-X-ENDLIST") {
                p.ended = true;
            } else if !line.is_empty() && !line.starts_with('#') && in_segment {
                p.segments += 1;
                p.trailing_parts = 0;
                p.listed.push(line.to_string());
                in_segment = false;
            }
        }
        p
    }

    /// The next segment's number, the one being made.
    fn next_msn(&self) -> u64 {
        self.media_sequence + self.segments
    }

    /// Whether a request for part `part` (or, without one, the whole segment) of segment
    /// `msn` can be answered with this playlist: it lists that part, or a later segment.
    pub fn has(&self, msn: u64, part: Option<u64>) -> bool {
        if self.ended || msn < self.next_msn() {
            return true;
        }
        msn == self.next_msn() && part.is_some_and(|p| p < self.trailing_parts)
    }

    /// RFC 8216bis §6.2.5.2: more than two segments beyond the last one is a bad request.
    pub fn too_far_ahead(&self, msn: u64) -> bool {
        // The last segment is next_msn - 1; "plus two" allows up to next_msn + 1.
        !self.ended && msn > self.next_msn() + 1
    }

    /// The longest a request is held: three target durations (RFC 8216bis §6.2.5.2).
    pub fn hold_limit(&self) -> Duration {
        let target = if self.target_duration > 0.0 { self.target_duration } else { 2.0 };
        Duration::from_secs_f64(3.0 * target)
    }
}

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
            if !event.paths.iter().any(|p| p == &path) {
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
        let now = read_playlist(playlist)?;
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

    /// A GET for a file next to a low-latency `live.m3u8`: when it is the preload hint and
    /// not listed yet, waits until the playlist lists it (so the file is complete). `Ok(true)`
    /// when the playlist lists the file (it is then immutable), `Ok(false)` when there is no
    /// low-latency playlist beside it, `Err` with a response when waiting failed.
    pub async fn await_listed(&self, file: &Path) -> Result<bool, Response> {
        let (Some(dir), Some(name)) = (file.parent(), file.file_name().and_then(|n| n.to_str())) else {
            return Ok(false);
        };
        let playlist = dir.join("live.m3u8");
        if file == playlist {
            return Ok(false);
        }
        let listed = |p: &Playlist| p.listed.iter().any(|u| u == name);
        let p = match tokio::task::spawn_blocking({
            let playlist = playlist.clone();
            move || read_playlist(&playlist)
        })
        .await
        {
            Ok(Some(p)) if p.low_latency => p,
            _ => return Ok(false),
        };
        if listed(&p) {
            return Ok(true);
        }
        if p.preload_hint.as_deref() != Some(name) {
            return Ok(false);
        }
        match self.wait_for(&playlist, |p| listed(p) || p.ended).await {
            Some(Ok(_)) => Ok(true),
            Some(Err(_)) => Err((
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::CACHE_CONTROL, "no-store")],
                "the hinted part was not written within three target durations\n",
            )
                .into_response()),
            None => Ok(false),
        }
    }
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

/// Parts and segments a low-latency playlist lists are never rewritten.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

#[cfg(test)]
mod tests {
    use super::*;

    const LL: &str = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-PART-INF:PART-TARGET=0.333\n\
#EXT-X-MEDIA-SEQUENCE:5\n#EXTINF:2.0,\n5.m4s\n#EXT-X-PART:DURATION=0.333,URI=\"6.0.m4s\",INDEPENDENT=YES\n\
#EXT-X-PART:DURATION=0.333,URI=\"6.1.m4s\"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"6.2.m4s\"\n";

    #[test]
    fn a_low_latency_playlist_is_read_as_the_origin_needs() {
        let p = Playlist::parse(LL);
        assert!(p.low_latency);
        assert_eq!((p.media_sequence, p.segments, p.trailing_parts), (5, 1, 2));
        assert_eq!(p.preload_hint.as_deref(), Some("6.2.m4s"));
        assert_eq!(p.listed, ["5.m4s", "6.0.m4s", "6.1.m4s"]);
        assert!(p.has(5, None) && p.has(5, Some(9)) && p.has(6, Some(1)));
        assert!(!p.has(6, Some(2)) && !p.has(6, None) && !p.has(7, Some(0)));
        assert!(!p.too_far_ahead(7) && p.too_far_ahead(8));
        assert_eq!(p.hold_limit(), Duration::from_secs(6));
    }
}
