//! The `stats` event: what the rendition threads counted, the upload queue and the storage
//! requests, sampled every [`STATS_EVERY`]. Speed is measured over a sliding window, so one
//! slow second does not make a rendition look behind.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::child_protocol::{Event, RenditionStats, StorageCount};
use crate::pipeline::sink::ByteBudget;
use crate::pipeline::stats::{PipelineStats, RungStats};
use crate::storage::Counted;

pub const STATS_EVERY: Duration = Duration::from_secs(2);
/// The speed window (metrics: "over the last 10 s").
const WINDOW: Duration = Duration::from_secs(10);

pub struct Reporter {
    pipeline: Arc<PipelineStats>,
    storage: Arc<Counted>,
    budget: Arc<ByteBudget>,
    rungs: HashMap<String, RungHistory>,
}

#[derive(Default)]
struct RungHistory {
    /// (when, media microseconds encoded, busy microseconds) samples within the window.
    samples: VecDeque<(Instant, u64, u64)>,
    /// Frame counts already reported: encoded, dropped, duplicated.
    reported: [u64; 3],
}

impl Reporter {
    pub fn new(pipeline: Arc<PipelineStats>, storage: Arc<Counted>, budget: Arc<ByteBudget>) -> Reporter {
        Reporter { pipeline, storage, budget, rungs: HashMap::new() }
    }

    pub fn sample(&mut self, now: Instant) -> Event {
        let renditions = self
            .pipeline
            .rungs()
            .into_iter()
            // A shed rendition encodes nothing: a speed of 0 would read as "behind".
            .filter(|(_, stats)| !RungStats::flag(&stats.shed))
            .map(|(label, stats)| self.rungs.entry(label.clone()).or_default().sample(&label, &stats, now))
            .collect();
        let storage = self
            .storage
            .take_counts()
            .into_iter()
            .map(|(backend, op, result, count)| StorageCount {
                backend: backend.into(),
                op: op.into(),
                result: result.into(),
                count,
            })
            .collect();
        let input_behind_seconds = self.pipeline.input_behind();
        Event::Stats { renditions, upload_queue_bytes: self.budget.used() as u64, storage, input_behind_seconds }
    }
}

impl RungHistory {
    fn sample(&mut self, label: &str, stats: &RungStats, now: Instant) -> RenditionStats {
        self.samples.push_back((now, RungStats::get(&stats.media_us), RungStats::get(&stats.busy_us)));
        while self.samples.len() > 2 && self.samples.front().is_some_and(|(t, _, _)| now - *t > WINDOW) {
            self.samples.pop_front();
        }
        let (speed, busy) = match (self.samples.front(), self.samples.back()) {
            (Some(&(t0, m0, b0)), Some(&(t1, m1, b1))) if t1 > t0 => {
                let wall = (t1 - t0).as_secs_f64();
                let per_wall = |a: u64, b: u64| b.saturating_sub(a) as f64 / 1e6 / wall;
                (per_wall(m0, m1), per_wall(b0, b1).min(1.0))
            }
            _ => (0.0, 0.0),
        };
        let now_counts = [&stats.encoded, &stats.dropped, &stats.duplicated].map(RungStats::get);
        let delta: Vec<u64> = now_counts.iter().zip(self.reported).map(|(n, r)| n.saturating_sub(r)).collect();
        self.reported = now_counts;
        RenditionStats {
            rendition: label.to_string(),
            speed,
            busy,
            lag_seconds: RungStats::get(&stats.lag_us) as f64 / 1e6,
            encoded: delta[0],
            dropped: delta[1],
            duplicated: delta[2],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::FsStorage;

    #[test]
    fn speed_is_media_time_over_wall_time_in_the_window_and_counts_are_increments() {
        let pipeline = PipelineStats::new();
        let rung = pipeline.rung("640x360-30");
        let dir = tempfile::tempdir().unwrap();
        let storage =
            Counted::new(Arc::new(FsStorage::new(dir.path().to_path_buf(), 0o755, 0o644, false)), "filesystem");
        let mut reporter = Reporter::new(pipeline.clone(), storage, ByteBudget::new(1 << 20));
        let t0 = Instant::now();
        let stats = |r: &mut Reporter, at: u64| match r.sample(t0 + Duration::from_secs(at)) {
            Event::Stats { renditions, .. } => renditions[0].clone(),
            other => panic!("{other:?}"),
        };
        RungStats::add(&rung.encoded, 30);
        let first = stats(&mut reporter, 0);
        assert_eq!((first.encoded, first.speed), (30, 0.0));
        // 4 s of media in 2 s of wall time: twice real time.
        rung.media_us.store(4_000_000, std::sync::atomic::Ordering::Relaxed);
        RungStats::add(&rung.encoded, 120);
        let second = stats(&mut reporter, 2);
        assert_eq!((second.encoded, second.speed), (120, 2.0));
        // A live pace afterwards: the window (10 s) still remembers the fast start...
        for at in (4..=12).step_by(2) {
            rung.media_us.store(4_000_000 + (at - 2) * 1_000_000, std::sync::atomic::Ordering::Relaxed);
            stats(&mut reporter, at);
        }
        // ...until it slid past it: exactly real time.
        rung.media_us.store(16_000_000, std::sync::atomic::Ordering::Relaxed);
        let later = stats(&mut reporter, 14);
        assert!((later.speed - 1.0).abs() < 1e-9, "{later:?}");
    }
}
