//! The `Storage` trait every backend implements.

use super::error::StorageError;
use super::path::StoragePath;

/// A place files can be written to and removed from. Implementations are cheap to share
/// (`Arc<dyn Storage>`) and safe to call concurrently for different paths; callers guarantee
/// one writer per path at a time (§13).
#[async_trait::async_trait]
pub trait Storage: Send + Sync + std::fmt::Debug {
    /// Stores `body` at `path`, replacing any previous content. `Ok` means durable (§13).
    async fn put(&self, path: &StoragePath, body: bytes::Bytes) -> Result<(), StorageError>;
    /// Stores `body` at `path`, whose previous put or append stored `body[..from]`: LL-HLS
    /// grows a segment part by part, and each part is listed as a byte range of it once this
    /// returns `Ok` (all of `body` durable). Backends that cannot append in place store the
    /// whole body again; the filesystem writes only the new bytes.
    async fn append(&self, path: &StoragePath, body: bytes::Bytes, from: usize) -> Result<(), StorageError> {
        let _ = from;
        self.put(path, body).await
    }
    /// Removes `path`; a path that does not exist counts as success.
    async fn delete(&self, path: &StoragePath) -> Result<(), StorageError>;
    /// One line for logs, free of credentials: "filesystem /srv/hls", "HTTP https://cdn/x".
    fn describe(&self) -> String;
}
