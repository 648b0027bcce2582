//! The I/O side of end-of-stream cleanup: deletes what [`super::CleanupQueue`] says is due,
//! through the worker's storage, counting every request. A failed delete is logged and
//! counted, never retried (output-layout §10).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use super::cleanup::{Cleanup, CleanupQueue};
use crate::metrics::Metrics;
use crate::storage::{Storage, StoragePath};

/// `HLS_CLEANUP_AFTER_END=YES`: where and when.
#[derive(Debug, Clone)]
pub struct CleanupConfig {
    pub storage: Arc<dyn Storage>,
    /// The backend's name in metrics.
    pub backend: &'static str,
    /// `HLS_CLEANUP_DELAY_SECONDS`.
    pub delay: Duration,
}

pub struct Janitor {
    config: CleanupConfig,
    queue: CleanupQueue,
    running: JoinSet<()>,
    metrics: Arc<Metrics>,
}

impl Janitor {
    pub fn new(config: CleanupConfig, metrics: Arc<Metrics>) -> Janitor {
        Janitor { config, queue: CleanupQueue::default(), running: JoinSet::new(), metrics }
    }

    /// A stream closed now: its `paths` go after the delay.
    pub fn schedule(&mut self, channel: &str, stream_id: &str, paths: Vec<String>) {
        let due = Instant::now() + self.config.delay;
        tracing::debug!(%channel, %stream_id, files = paths.len(), "cleanup scheduled");
        self.queue.schedule(Cleanup { due, channel: channel.into(), stream_id: stream_id.into(), paths });
    }

    pub fn next_due(&self) -> Option<Instant> {
        self.queue.next_due()
    }

    /// Starts the deletions due now.
    pub fn run_due(&mut self) {
        for cleanup in self.queue.take_due(Instant::now()) {
            self.start(cleanup);
        }
    }

    /// Shutdown: runs the cleanups due by `deadline` (waiting for their time), logs the
    /// others, and waits until every deletion has ended.
    pub async fn finish(mut self, deadline: Instant) {
        let (due, forgotten) = self.queue.split_at(deadline);
        for c in forgotten {
            tracing::warn!(channel = %c.channel, stream_id = %c.stream_id, files = c.paths.len(),
                "shutting down: this stream's end-of-stream cleanup is not run; its files stay");
        }
        for c in due {
            tokio::time::sleep_until(c.due.into()).await;
            self.start(c);
        }
        while self.running.join_next().await.is_some() {}
    }

    fn start(&mut self, cleanup: Cleanup) {
        let (storage, backend, metrics) = (self.config.storage.clone(), self.config.backend, self.metrics.clone());
        self.running.spawn(async move {
            let (mut deleted, mut failed) = (0u64, 0u64);
            for path in &cleanup.paths {
                let Ok(p) = StoragePath::new(path.clone()) else { continue };
                match storage.delete(&p).await {
                    Ok(()) => deleted += 1,
                    Err(e) => {
                        failed += 1;
                        tracing::warn!(channel = %cleanup.channel, stream_id = %cleanup.stream_id, %path,
                            "cleanup: delete failed (not retried): {e}");
                    }
                }
            }
            metrics.storage_requests(backend, "delete", "ok", deleted);
            metrics.storage_requests(backend, "delete", "error", failed);
            tracing::info!(channel = %cleanup.channel, stream_id = %cleanup.stream_id, deleted, failed,
                "end-of-stream cleanup done");
        });
    }
}
