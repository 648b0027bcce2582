//! A backend wrapper that counts every request by operation and result, for the `stats`
//! event (and from it the worker's `hls_ladder_storage_requests_total`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use super::backend::Storage;
use super::error::StorageError;
use super::path::StoragePath;

#[derive(Debug)]
pub struct Counted {
    inner: Arc<dyn Storage>,
    backend: &'static str,
    /// `[put ok, put error, delete ok, delete error]` not yet taken.
    counts: [AtomicU64; 4],
}

impl Counted {
    /// `backend`: the name the counts carry (`StorageConfig::backend`).
    pub fn new(inner: Arc<dyn Storage>, backend: &'static str) -> Arc<Counted> {
        Arc::new(Counted { inner, backend, counts: Default::default() })
    }

    /// `(backend, op, result, count)` of the requests since the previous call; kinds with
    /// none are left out.
    pub fn take_counts(&self) -> Vec<(&'static str, &'static str, &'static str, u64)> {
        let kinds = [("put", "ok"), ("put", "error"), ("delete", "ok"), ("delete", "error")];
        kinds
            .iter()
            .zip(&self.counts)
            .filter_map(|((op, result), count)| {
                let n = count.swap(0, Ordering::Relaxed);
                (n > 0).then_some((self.backend, *op, *result, n))
            })
            .collect()
    }

    fn count<T>(&self, op: usize, result: &Result<T, StorageError>) {
        let slot = op * 2 + usize::from(result.is_err());
        self.counts[slot].fetch_add(1, Ordering::Relaxed);
    }
}

#[async_trait::async_trait]
impl Storage for Counted {
    async fn put(&self, path: &StoragePath, body: Bytes) -> Result<(), StorageError> {
        let result = self.inner.put(path, body).await;
        self.count(0, &result);
        result
    }

    async fn append(&self, path: &StoragePath, body: Bytes, from: usize) -> Result<(), StorageError> {
        let result = self.inner.append(path, body, from).await;
        self.count(0, &result);
        result
    }

    async fn delete(&self, path: &StoragePath) -> Result<(), StorageError> {
        let result = self.inner.delete(path).await;
        self.count(1, &result);
        result
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::FsStorage;

    #[tokio::test]
    async fn requests_are_counted_by_operation_and_result_and_taken_once() {
        let dir = tempfile::tempdir().unwrap();
        let fs = Arc::new(FsStorage::new(dir.path().to_path_buf(), 0o755, 0o644, false));
        let counted = Counted::new(fs, "filesystem");
        let path = StoragePath::new("a/b.ts").unwrap();
        counted.put(&path, Bytes::from_static(b"x")).await.unwrap();
        counted.put(&path, Bytes::from_static(b"y")).await.unwrap();
        counted.delete(&path).await.unwrap();
        // A directory where the file should be: the put fails.
        std::fs::create_dir_all(dir.path().join("c/d.ts")).unwrap();
        counted.put(&StoragePath::new("c/d.ts").unwrap(), Bytes::from_static(b"z")).await.unwrap_err();
        assert_eq!(
            counted.take_counts(),
            [("filesystem", "put", "ok", 2), ("filesystem", "put", "error", 1), ("filesystem", "delete", "ok", 1)]
        );
        assert!(counted.take_counts().is_empty(), "taken once");
    }
}
