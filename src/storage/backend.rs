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
    /// Removes `path`; a path that does not exist counts as success.
    async fn delete(&self, path: &StoragePath) -> Result<(), StorageError>;
    /// One line for logs, free of credentials: "filesystem /srv/hls", "HTTP https://cdn/x".
    fn describe(&self) -> String;
}
