//! What each rendition thread measures about itself, read once a second by the transcode's
//! reporter (which turns it into the `stats` event the worker's metrics come from). Plain
//! atomics: the encoder threads only ever add or store.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// One rendition's counters since its run started.
#[derive(Debug, Default)]
pub struct RungStats {
    /// Frames handed to the encoder (duplicates included).
    pub encoded: AtomicU64,
    /// Source frames the constant-rate grid had no slot for (a faster source, or decimation).
    pub dropped: AtomicU64,
    /// Slots filled with the previous picture again (a gap or a slower source).
    pub duplicated: AtomicU64,
    /// Media time the encoder has output up to, microseconds of the run.
    pub media_us: AtomicU64,
    /// How long the newest encoded frame took from its source packet being read to leaving
    /// the encoder (queues, scaling, the encoder's lookahead), microseconds.
    pub lag_us: AtomicU64,
}

impl RungStats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Every rendition of a run, by label; filled when the pipeline has chosen its ladder.
#[derive(Debug, Default)]
pub struct PipelineStats {
    rungs: Mutex<Vec<(String, Arc<RungStats>)>>,
}

impl PipelineStats {
    pub fn new() -> Arc<Self> {
        Arc::new(PipelineStats::default())
    }

    /// A fresh counter set for rendition `label`.
    pub fn rung(&self, label: &str) -> Arc<RungStats> {
        let stats = Arc::new(RungStats::default());
        if let Ok(mut rungs) = self.rungs.lock() {
            rungs.push((label.to_string(), stats.clone()));
        }
        stats
    }

    /// The renditions known so far, in ladder order.
    pub fn rungs(&self) -> Vec<(String, Arc<RungStats>)> {
        self.rungs.lock().map(|r| r.clone()).unwrap_or_default()
    }
}
