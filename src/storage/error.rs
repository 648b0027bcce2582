//! `StorageError`: what a backend or its configuration fails with, each message saying what
//! the operator can do.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Everything a storage operation or its configuration can fail with. Each message names the
/// file or URL involved and says what the operator can do; none contains a password or token.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("refusing storage path {path:?}: {reason}")]
    InvalidPath { path: String, reason: &'static str },

    #[error("filesystem storage could not {action} {}: {source}{}", path.display(), io_hint(source))]
    Io { action: &'static str, path: PathBuf, source: io::Error },

    #[error("HTTP storage {method} {url_without_credentials} answered {status}{}{}", body_excerpt(body), http_hint(*status))]
    Http { method: &'static str, status: u16, url_without_credentials: String, body: String },

    #[error("HTTP storage {method} {url_without_credentials} failed: {}; check that the storage server is reachable from this worker", error_chain(source))]
    Network { method: &'static str, url_without_credentials: String, source: reqwest::Error },

    #[error("HTTP storage {method} {url_without_credentials} got no answer within {after:?}; the server is slow or unreachable (HLS_STORAGE_TIMEOUT_SECONDS sets the limit)")]
    Timeout { method: &'static str, url_without_credentials: String, after: Duration },

    /// An object store (S3, Azure) refused or failed an operation.
    #[error("{backend} storage could not {action} {path}: {message}")]
    Object { backend: &'static str, action: &'static str, path: String, message: String, retryable: bool },

    #[error("storage configuration: {variable}: {message}")]
    Config { variable: &'static str, message: String },

    #[error("storage operation on {path} cancelled")]
    Cancelled { path: String },
}

impl StorageError {
    /// Whether trying the same operation again may succeed (§13: network errors, timeouts,
    /// HTTP 408/429/5xx).
    ///
    /// Filesystem errors are retried only when they are plausibly transient (NFS timeouts and
    /// stale handles, descriptor or memory exhaustion, EBUSY/EAGAIN). A full disk, an exceeded
    /// quota, a read-only mount, a permission problem or an I/O error (EIO) fail at once: none
    /// of them heals within a retry deadline, and failing fast surfaces the message that tells
    /// the operator what to fix instead of silently stalling every stream for 30 s per file.
    pub fn is_retryable(&self) -> bool {
        match self {
            StorageError::Network { .. } | StorageError::Timeout { .. } => true,
            StorageError::Http { status, .. } => matches!(*status, 408 | 429) || (500..=599).contains(status),
            StorageError::Io { source, .. } => io_is_transient(source),
            StorageError::Object { retryable, .. } => *retryable,
            StorageError::InvalidPath { .. } | StorageError::Config { .. } | StorageError::Cancelled { .. } => false,
        }
    }
}

fn io_is_transient(err: &io::Error) -> bool {
    match err.raw_os_error() {
        Some(code) => [
            libc::EAGAIN,
            libc::EBUSY,
            libc::EINTR,
            libc::EMFILE,
            libc::ENFILE,
            libc::ENOMEM,
            libc::ETIMEDOUT,
            libc::ESTALE,
            libc::ECONNRESET,
        ]
        .contains(&code),
        None => matches!(err.kind(), io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut),
    }
}

/// What the operator should do about a filesystem error, as a suffix of its message.
fn io_hint(err: &io::Error) -> &'static str {
    match err.raw_os_error() {
        Some(libc::ENOSPC) => "; the disk is full: free space or point HLS_FILESYSTEM_PATH at a larger volume",
        Some(libc::EDQUOT) => "; the disk quota is exhausted: raise it or free space",
        Some(libc::EROFS) => {
            "; the file system is mounted read-only: mount it read-write or change HLS_FILESYSTEM_PATH"
        }
        Some(libc::EACCES) | Some(libc::EPERM) => "; make HLS_FILESYSTEM_PATH writable by the user this worker runs as",
        Some(libc::ENOTDIR) | Some(libc::EEXIST) | Some(libc::EISDIR) => {
            "; a file and a directory collide on this path: remove the stray entry under HLS_FILESYSTEM_PATH"
        }
        Some(libc::EIO) => "; the device reported an I/O error: check the disk or network mount",
        _ if io_is_transient(err) => "; will be retried",
        _ => "",
    }
}

/// An error and its causes, "a: b: c"; reqwest's own message alone hides the cause
/// ("error sending request" without "connection refused").
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(e) = cause {
        let next = e.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        cause = e.source();
    }
    text
}

fn body_excerpt(body: &str) -> String {
    if body.is_empty() {
        String::new()
    } else {
        format!(" ({body})")
    }
}

/// What the operator should do about an HTTP status, as a suffix of its message.
fn http_hint(status: u16) -> &'static str {
    match status {
        401 | 403 => "; check HLS_STORAGE_HTTP_AUTH and its credentials",
        404 | 405 => "; check that HLS_STORAGE_HTTP_URL points at a location that accepts PUT",
        413 => "; the server refused the body size: raise its upload limit",
        408 | 429 => "; the server is overloaded, will be retried",
        500..=599 => "; the storage server failed, will be retried",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16) -> StorageError {
        StorageError::Http { method: "PUT", status, url_without_credentials: "http://h/x".into(), body: String::new() }
    }

    #[test]
    fn http_statuses_retry_only_for_408_429_and_5xx() {
        for status in [408, 429, 500, 502, 503, 599] {
            assert!(http(status).is_retryable(), "{status}");
        }
        for status in [400, 401, 403, 404, 409, 413, 600] {
            assert!(!http(status).is_retryable(), "{status}");
        }
    }

    #[test]
    fn full_disk_fails_fast_and_tells_the_operator() {
        let err = StorageError::Io {
            action: "write",
            path: "/srv/hls/a.ts.tmp".into(),
            source: io::Error::from_raw_os_error(libc::ENOSPC),
        };
        assert!(!err.is_retryable());
        let text = err.to_string();
        assert!(text.contains("/srv/hls/a.ts.tmp"), "{text}");
        assert!(text.contains("free space"), "{text}");
    }

    #[test]
    fn transient_filesystem_errors_are_retried() {
        for code in [libc::ESTALE, libc::ETIMEDOUT, libc::EMFILE, libc::EAGAIN] {
            let err =
                StorageError::Io { action: "write", path: "x".into(), source: io::Error::from_raw_os_error(code) };
            assert!(err.is_retryable(), "{code}");
        }
        for code in [libc::EIO, libc::EROFS, libc::EACCES, libc::EDQUOT] {
            let err =
                StorageError::Io { action: "write", path: "x".into(), source: io::Error::from_raw_os_error(code) };
            assert!(!err.is_retryable(), "{code}");
        }
    }

    #[test]
    fn forbidden_message_points_at_the_auth_settings() {
        let text = http(403).to_string();
        assert!(text.contains("403"), "{text}");
        assert!(text.contains("HLS_STORAGE_HTTP_AUTH"), "{text}");
    }
}
