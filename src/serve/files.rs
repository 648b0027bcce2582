//! Static files of a storage root: request paths that cannot leave the root, content types,
//! cache headers, conditional requests and single byte ranges.
//!
//! Path resolution is the security boundary of `serve`: a request path is split on `/` before
//! it is percent-decoded, so an encoded separator (`%2f`) can never make a new segment; every
//! decoded segment must be a plain name (no `.`, `..`, dot files, separators or NUL); and the
//! joined path is canonicalized (symlinks resolved) and must still lie inside the canonical
//! root. Anything else is `None`, which the server answers with 404.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

/// The request path (as sent, still percent-encoded, starting with `/`) as a relative path of
/// plain names, or `None` when it is not one.
pub fn relative_path(raw: &str) -> Option<PathBuf> {
    let rest = raw.strip_prefix('/')?;
    let mut path = PathBuf::new();
    for segment in rest.split('/') {
        let name = percent_decode(segment)?;
        let plain = !name.is_empty()
            && !name.starts_with('.')
            && !name.contains(['/', '\\', '\0'])
            && !name.chars().any(char::is_control);
        if !plain {
            return None;
        }
        path.push(name);
    }
    (!path.as_os_str().is_empty()).then_some(path)
}

/// The regular file a request path names inside `root`, canonical; `None` when the path is
/// not a plain relative path, does not exist, is not a regular file, or resolves (through a
/// symlink) to anything outside `root`. `root` must be canonical.
pub fn resolve(root: &Path, raw: &str) -> Option<PathBuf> {
    let relative = relative_path(raw)?;
    let canonical = std::fs::canonicalize(root.join(relative)).ok()?;
    if !canonical.starts_with(root) || !canonical.metadata().ok()?.is_file() {
        return None;
    }
    Some(canonical)
}

/// `%XX` escapes decoded; `None` for a malformed escape or bytes that are not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn extension(path: &Path) -> String {
    path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase()
}

pub fn content_type(path: &Path) -> &'static str {
    match extension(path).as_str() {
        "m3u8" => "application/vnd.apple.mpegurl",
        "mpd" => "application/dash+xml",
        "ts" => "video/mp2t",
        "jpg" | "jpeg" => "image/jpeg",
        "json" => "application/json",
        "vtt" => "text/vtt; charset=utf-8",
        "png" => "image/png",
        "mp4" | "m4s" => "video/mp4",
        "html" => "text/html; charset=utf-8",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Parts and segments a low-latency playlist lists are never rewritten.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Playlists and index files change while a stream runs: players must revalidate them every
/// time. Segments and images are written once; a short lifetime still covers a demo run
/// again into the same directory.
pub fn cache_control(path: &Path) -> &'static str {
    match extension(path).as_str() {
        "m3u8" | "mpd" | "json" | "vtt" | "html" => "no-cache",
        _ => "max-age=30",
    }
}

/// What a `Range` header asks of a representation of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable range: the whole file (a syntax error or several ranges are ignored, as
    /// RFC 9110 §14.2 allows).
    Full,
    /// Bytes `start..=end`.
    Partial { start: u64, end: u64 },
    /// 416.
    Unsatisfiable,
}

pub fn parse_range(header: &str, len: u64) -> RangeRequest {
    let header = header.trim();
    let Some((unit, spec)) = header.split_once('=') else { return RangeRequest::Full };
    if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else { return RangeRequest::Full };
    let number = |s: &str| -> Option<Option<u64>> {
        let s = s.trim();
        if s.is_empty() {
            Some(None)
        } else if s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse().ok().map(Some)
        } else {
            None
        }
    };
    let (Some(first), Some(last)) = (number(first), number(last)) else { return RangeRequest::Full };
    match (first, last) {
        (Some(start), last) => {
            if last.is_some_and(|l| l < start) {
                return RangeRequest::Full;
            }
            if start >= len {
                return RangeRequest::Unsatisfiable;
            }
            let end = last.map_or(len - 1, |l| l.min(len - 1));
            RangeRequest::Partial { start, end }
        }
        (None, Some(suffix)) => {
            if suffix == 0 || len == 0 {
                return RangeRequest::Unsatisfiable;
            }
            RangeRequest::Partial { start: len.saturating_sub(suffix), end: len - 1 }
        }
        (None, None) => RangeRequest::Full,
    }
}

pub fn not_found() -> Response {
    (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "not found\n").into_response()
}

/// The regular file a request path names inside `root` (canonical), opened, with the
/// metadata of the file opened (not of the path looked at before).
async fn open(root: &Path, raw_path: &str) -> Option<(PathBuf, tokio::fs::File, std::fs::Metadata)> {
    let (root, raw) = (root.to_path_buf(), raw_path.to_string());
    let path = tokio::task::spawn_blocking(move || resolve(&root, &raw)).await.ok()??;
    let file = tokio::fs::File::open(&path).await.ok()?;
    let meta = file.metadata().await.ok()?;
    meta.is_file().then_some((path, file, meta))
}

/// Answers a GET or HEAD for the file a request path names inside `root` (canonical).
pub async fn serve_file(root: &Path, method: &Method, raw_path: &str, headers: &HeaderMap) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "GET, HEAD, OPTIONS")]).into_response();
    }
    let Some((path, mut file, meta)) = open(root, raw_path).await else { return not_found() };
    let len = meta.len();
    let modified = meta.modified().ok();
    let nanos = modified.and_then(|m| m.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
    let etag = format!("\"{nanos:x}-{len:x}\"");
    let last_modified = modified.map(httpdate::fmt_http_date);

    let mut response = Response::builder()
        .header(header::CONTENT_TYPE, content_type(&path))
        .header(header::CACHE_CONTROL, cache_control(&path))
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::ETAG, &etag);
    if let Some(date) = &last_modified {
        response = response.header(header::LAST_MODIFIED, date);
    }
    if let Some(tags) = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) {
        if tags.trim() == "*" || tags.split(',').any(|t| t.trim().trim_start_matches("W/") == etag) {
            return response.status(StatusCode::NOT_MODIFIED).body(Body::empty()).unwrap_or_else(|_| not_found());
        }
    }
    // If-Range: the range only applies to the representation the client already has part of.
    let range_applies = match headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(validator) => validator == etag || last_modified.as_deref() == Some(validator),
    };
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(r) if range_applies => parse_range(r, len),
        _ => RangeRequest::Full,
    };
    let (status, start, count) = match range {
        RangeRequest::Full => (StatusCode::OK, 0, len),
        RangeRequest::Partial { start, end } => {
            response = response.header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}"));
            (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
        }
        RangeRequest::Unsatisfiable => {
            return response
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{len}"))
                .header(header::CONTENT_LENGTH, 0)
                .body(Body::empty())
                .unwrap_or_else(|_| not_found());
        }
    };
    response = response.status(status).header(header::CONTENT_LENGTH, count);
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        if start > 0 && file.seek(std::io::SeekFrom::Start(start)).await.is_err() {
            return not_found();
        }
        Body::from_stream(tokio_util::io::ReaderStream::new(file.take(count)))
    };
    response.body(body).unwrap_or_else(|_| not_found())
}

/// Answers a GET or HEAD with exactly bytes `start..=end` of a segment (`206`), which its
/// low-latency playlist lists as written. While the segment is being made (`complete` false)
/// its length is not known yet: `Content-Range: bytes S-E/*`, and no `ETag` or
/// `Last-Modified`, which change with every part appended while the bytes sent do not. The
/// bytes never change, so they are immutable.
pub async fn serve_bytes(
    root: &Path,
    method: &Method,
    raw_path: &str,
    start: u64,
    end: u64,
    complete: bool,
) -> Response {
    let Some((path, mut file, meta)) = open(root, raw_path).await else { return not_found() };
    if meta.len() <= end {
        // Listed but not on disk: the playlist and the file disagree (the segment was
        // replaced, e.g. a stream restarted into the same directory).
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CACHE_CONTROL, "no-store"), (header::RETRY_AFTER, "1")],
            "the playlist lists bytes the segment file does not have; ask for the playlist again\n",
        )
            .into_response();
    }
    let total = if complete { meta.len().to_string() } else { "*".to_string() };
    let count = end - start + 1;
    let response = Response::builder()
        .status(StatusCode::PARTIAL_CONTENT)
        .header(header::CONTENT_TYPE, content_type(&path))
        .header(header::CACHE_CONTROL, IMMUTABLE)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{total}"))
        .header(header::CONTENT_LENGTH, count);
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        if file.seek(std::io::SeekFrom::Start(start)).await.is_err() {
            return not_found();
        }
        Body::from_stream(tokio_util::io::ReaderStream::new(file.take(count)))
    };
    response.body(body).unwrap_or_else(|_| not_found())
}

/// Headers on every response: any origin may read (players on other pages), and browsers must
/// not guess content types.
pub async fn add_common_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("Content-Length, Content-Range, Accept-Ranges, ETag"),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// A CORS preflight: GET and HEAD with a Range header from anywhere.
pub fn preflight() -> Response {
    (
        StatusCode::NO_CONTENT,
        [
            (header::ACCESS_CONTROL_ALLOW_METHODS, "GET, HEAD, OPTIONS"),
            (header::ACCESS_CONTROL_ALLOW_HEADERS, "Range, If-None-Match, If-Range"),
            (header::ACCESS_CONTROL_MAX_AGE, "86400"),
            (header::ALLOW, "GET, HEAD, OPTIONS"),
        ],
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_resolve_to_relative_paths() {
        assert_eq!(relative_path("/hls/test/local/master.m3u8"), Some(PathBuf::from("hls/test/local/master.m3u8")));
        assert_eq!(
            relative_path("/hls/test/local/1280x720-30~2000/live.m3u8"),
            Some(PathBuf::from("hls/test/local/1280x720-30~2000/live.m3u8"))
        );
        // An escaped character that is not a separator is just that character.
        assert_eq!(relative_path("/hls/a%20b/x.ts"), Some(PathBuf::from("hls/a b/x.ts")));
        assert_eq!(relative_path("/hls/x%7E1/0.ts"), Some(PathBuf::from("hls/x~1/0.ts")));
    }

    #[test]
    fn hostile_paths_are_refused_before_the_filesystem_is_asked() {
        for raw in [
            "",
            "/",
            "etc/passwd",
            "/../etc/passwd",
            "/hls/../../etc/passwd",
            "/hls/./x",
            "/%2e%2e/%2e%2e/etc/passwd",
            "/%2E%2E/etc/passwd",
            "/.%2e/etc/passwd",
            "/hls/..%2f..%2fetc/passwd",
            "/hls/..%2F..%2Fetc%2Fpasswd",
            "/hls/%2fetc%2fpasswd",
            "/%2Fetc/passwd",
            "//etc/passwd",
            "/hls//x",
            "/hls/..\\..\\etc\\passwd",
            "/hls/..%5c..%5cetc/passwd",
            "/hls/x%00.ts",
            "/hls/%0a",
            "/.hidden",
            "/hls/live.m3u8.tmp/../x",
            "/hls/%zz",
            "/hls/%2",
            "/hls/%ff%fe",
            "/hls/",
        ] {
            assert_eq!(relative_path(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn resolution_stays_inside_the_root_through_symlinks() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "x").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir_all(root.join("hls/a")).unwrap();
        std::fs::write(root.join("hls/a/0.ts"), "ts").unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("hls/out")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), root.join("hls/secret")).unwrap();
        std::os::unix::fs::symlink(root.join("hls/a/0.ts"), root.join("hls/inside.ts")).unwrap();
        assert_eq!(resolve(&root, "/hls/a/0.ts"), Some(root.join("hls/a/0.ts")));
        assert_eq!(resolve(&root, "/hls/inside.ts"), Some(root.join("hls/a/0.ts")), "a link within the root");
        assert_eq!(resolve(&root, "/hls/out/secret"), None);
        assert_eq!(resolve(&root, "/hls/secret"), None);
        assert_eq!(resolve(&root, "/hls/a"), None, "a directory");
        assert_eq!(resolve(&root, "/hls/a/1.ts"), None);
        let absolute = format!("/{}", outside.path().join("secret").display());
        assert_eq!(resolve(&root, &absolute), None, "an absolute path is looked up inside the root");
        let encoded = format!("/{}", outside.path().join("secret").display().to_string().replace('/', "%2f"));
        assert_eq!(resolve(&root, &encoded), None);
    }

    #[test]
    fn ranges() {
        use RangeRequest::*;
        assert_eq!(parse_range("bytes=0-99", 1000), Partial { start: 0, end: 99 });
        assert_eq!(parse_range("bytes=900-", 1000), Partial { start: 900, end: 999 });
        assert_eq!(parse_range("bytes=900-5000", 1000), Partial { start: 900, end: 999 });
        assert_eq!(parse_range("bytes=-100", 1000), Partial { start: 900, end: 999 });
        assert_eq!(parse_range("bytes=-5000", 1000), Partial { start: 0, end: 999 });
        assert_eq!(parse_range("Bytes = 5-5", 1000), Partial { start: 5, end: 5 });
        assert_eq!(parse_range("bytes=1000-", 1000), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 1000), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), Unsatisfiable);
        assert_eq!(parse_range("bytes=5-1", 1000), Full);
        assert_eq!(parse_range("bytes=0-1,5-6", 1000), Full);
        assert_eq!(parse_range("items=0-1", 1000), Full);
        assert_eq!(parse_range("bytes=a-b", 1000), Full);
        assert_eq!(parse_range("bytes=+1-2", 1000), Full);
        assert_eq!(parse_range("bytes=-", 1000), Full);
        assert_eq!(parse_range("bytes=99999999999999999999999-", 1000), Full);
    }

    #[test]
    fn content_types_and_caching() {
        assert_eq!(content_type(Path::new("a/live.m3u8")), "application/vnd.apple.mpegurl");
        assert_eq!(content_type(Path::new("a/0.ts")), "video/mp2t");
        assert_eq!(content_type(Path::new("a/master.mpd")), "application/dash+xml");
        assert_eq!(cache_control(Path::new("a/master.mpd")), "no-cache");
        assert_eq!(content_type(Path::new("a/0.jpg")), "image/jpeg");
        assert_eq!(content_type(Path::new("a/index.json")), "application/json");
        assert_eq!(content_type(Path::new("a/x")), "application/octet-stream");
        assert_eq!(cache_control(Path::new("a/master.m3u8")), "no-cache");
        assert_eq!(cache_control(Path::new("a/index.json")), "no-cache");
        assert_eq!(cache_control(Path::new("a/0.ts")), "max-age=30");
    }
}
