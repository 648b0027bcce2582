//! Where finished files go (output-layout §13): one `Storage` trait with a filesystem, an HTTP
//! and an object-store (S3, Azure Blob) backend, plus the retry loop that decides when a file is
//! given up.
//!
//! # Layout
//! - `backend`: the `Storage` trait; `error`: `StorageError`, what every backend fails with.
//! - `path`: `StoragePath`, the only way a name reaches a backend, and its content headers.
//! - `config`: `StorageConfig` from the environment (coordinator-protocol §11, output-layout §15).
//! - `fs`: `FsStorage`, temp file + rename.
//! - `http`: `HttpStorage`, `PUT`/`DELETE` under a base URL.
//! - `object`: `ObjectStorage`, S3 and Azure Blob through `object_store`.
//! - `retry`: `RetryPolicy`, `put_with_retry` and `append_with_retry`.
//! - `counted`: `Counted`, a wrapper counting requests by operation and result (metrics).

mod backend;
mod config;
mod counted;
mod error;
mod fs;
mod http;
mod object;
mod path;
mod retry;

pub use backend::Storage;
pub use config::{Secret, StorageConfig};
pub use counted::Counted;
pub use error::StorageError;
pub use fs::FsStorage;
pub use http::HttpAuth;
pub use http::HttpStorage;
pub use object::ObjectStorage;
pub use path::StoragePath;
pub use retry::{append_with_retry, put_with_retry, RetryPolicy};

use std::sync::Arc;

impl StorageConfig {
    /// Creates the backend. Fails only on configuration the backend itself rejects.
    pub fn build(&self) -> Result<Arc<dyn Storage>, StorageError> {
        match self {
            StorageConfig::Filesystem { root, dir_mode, file_mode, fsync } => {
                Ok(Arc::new(FsStorage::new(root.clone(), *dir_mode, *file_mode, *fsync)))
            }
            StorageConfig::Http { base_url, auth, timeout } => {
                Ok(Arc::new(HttpStorage::new(base_url, auth.clone(), *timeout)?))
            }
            StorageConfig::S3 { .. } | StorageConfig::Azure { .. } => Ok(Arc::new(ObjectStorage::new(self)?)),
        }
    }
}
