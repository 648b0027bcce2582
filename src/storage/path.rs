//! `StoragePath`: a checked relative path (§13 "every path is checked before use") and the
//! content headers its extension implies (§13 table).

use super::error::StorageError;

/// A path relative to the storage root that is safe to hand to any backend: it cannot climb out
/// of the root, name the root itself, or smuggle separators and control bytes into a file name
/// or URL. Built only through [`StoragePath::new`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoragePath(String);

/// Longest accepted path in bytes; well under PATH_MAX and every object store's key limit, far
/// above the longest name the layout produces.
const MAX_LEN: usize = 1024;

impl StoragePath {
    /// Checks `p` and wraps it. Rejected: empty, absolute, longer than 1024 bytes, an empty,
    /// `.` or `..` component, a backslash, or a control character anywhere.
    pub fn new(p: impl Into<String>) -> Result<Self, StorageError> {
        let p = p.into();
        match problem(&p) {
            None => Ok(StoragePath(p)),
            Some(reason) => Err(StorageError::InvalidPath { path: p, reason }),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `Content-Type` per the §13 table; `image/jpeg`, never `image/jpg`.
    pub fn content_type(&self) -> &'static str {
        match self.extension().as_deref() {
            Some("m3u8") => "application/vnd.apple.mpegurl",
            Some("mpd") => "application/dash+xml",
            Some("json") => "application/json",
            Some("vtt") => "text/vtt",
            Some("ts") => "video/mp2t",
            Some("jpg") => "image/jpeg",
            _ => "application/octet-stream",
        }
    }

    /// `Cache-Control` per the §13 table: indexes change and must not be cached, media never
    /// changes once written.
    pub fn cache_control(&self) -> &'static str {
        match self.extension().as_deref() {
            Some("m3u8") | Some("mpd") | Some("json") | Some("vtt") => "no-cache",
            _ => "max-age=31536000",
        }
    }

    /// Extension of the last component, lower-cased; `None` without a dot.
    fn extension(&self) -> Option<String> {
        let name = self.0.rsplit('/').next().unwrap_or(&self.0);
        let (_, ext) = name.rsplit_once('.')?;
        Some(ext.to_ascii_lowercase())
    }
}

impl std::fmt::Display for StoragePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for StoragePath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

fn problem(p: &str) -> Option<&'static str> {
    if p.is_empty() {
        return Some("the path is empty");
    }
    if p.len() > MAX_LEN {
        return Some("the path is longer than 1024 bytes");
    }
    if p.starts_with('/') {
        return Some("the path is absolute; storage paths are relative to the storage root");
    }
    if p.contains('\\') {
        return Some("the path contains a backslash");
    }
    if p.chars().any(char::is_control) {
        return Some("the path contains a control character");
    }
    for component in p.split('/') {
        match component {
            "" => return Some("the path has an empty component"),
            "." | ".." => return Some("the path has a '.' or '..' component"),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> StoragePath {
        StoragePath::new(p).unwrap()
    }

    #[test]
    fn layout_paths_are_accepted_unchanged() {
        for p in ["hls/ch/id/1281x721-30/0.ts", "hls/ch/id/master.m3u8", "img-preview/ch/id/256x144-2/index.json", "a"]
        {
            assert_eq!(path(p).as_str(), p);
        }
    }

    #[test]
    fn hostile_paths_are_rejected() {
        for p in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a/./b",
            ".",
            "a//b",
            "a/",
            "a\\b",
            "a/b\0c",
            "a/b\nc",
            "a/\u{7f}",
            "a/\u{85}",
        ] {
            let err = StoragePath::new(p).unwrap_err();
            assert!(matches!(err, StorageError::InvalidPath { .. }), "{p:?}");
        }
        assert!(StoragePath::new("a/".repeat(600)).is_err());
    }

    #[test]
    fn dots_inside_names_are_not_components() {
        assert_eq!(path("a/..b/c..").as_str(), "a/..b/c..");
        assert_eq!(path(".hidden").as_str(), ".hidden");
    }

    #[test]
    fn content_headers_follow_the_table() {
        let cases = [
            ("x/live.m3u8", "application/vnd.apple.mpegurl", "no-cache"),
            ("x/index.json", "application/json", "no-cache"),
            ("x/master-vod-0.mpd", "application/dash+xml", "no-cache"),
            ("x/thumbnails.vtt", "text/vtt", "no-cache"),
            ("x/7.ts", "video/mp2t", "max-age=31536000"),
            ("x/3.jpg", "image/jpeg", "max-age=31536000"),
            ("x/3.png", "application/octet-stream", "max-age=31536000"),
            ("x.ts/noext", "application/octet-stream", "max-age=31536000"),
            ("x/LIVE.M3U8", "application/vnd.apple.mpegurl", "no-cache"),
        ];
        for (p, content_type, cache) in cases {
            assert_eq!(path(p).content_type(), content_type, "{p}");
            assert_eq!(path(p).cache_control(), cache, "{p}");
        }
    }
}
