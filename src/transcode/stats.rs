//! The `stats` event: what the rendition threads counted, the upload queue and the storage
//! requests, sampled every [`STATS_EVERY`]. Speed is measured over a sliding window, so one
//! slow second does not make a rendition look behind.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::child_protocol::{Event, RenditionStats, StorageCount, STATS_WINDOW as WINDOW};
use crate::pipeline::sink::ByteBudget;
use crate::pipeline::stats::{PipelineStats, RungStats};
use crate::storage::Counted;

pub const STATS_EVERY: Duration = Duration::from_secs(2);

pub struct Reporter {
    pipeline: Arc<PipelineStats>,
    storage: Arc<Counted>,
    budget: Arc<ByteBudget>,
    rungs: HashMap<String, RungHistory>,
    /// (when, microseconds the reader waited for its source) samples within the window.
    reads: VecDeque<(Instant, u64)>,
}

#[derive(Default)]
struct RungHistory {
    /// (when, media microseconds encoded, busy microseconds, CPU microseconds) samples within
    /// the window.
    samples: VecDeque<(Instant, u64, u64, u64)>,
    /// Frame counts already reported: encoded, dropped, duplicated.
    reported: [u64; 3],
}

impl Reporter {
    pub fn new(pipeline: Arc<PipelineStats>, storage: Arc<Counted>, budget: Arc<ByteBudget>) -> Reporter {
        Reporter { pipeline, storage, budget, rungs: HashMap::new(), reads: VecDeque::new() }
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
        // Only a live source's reader waits for real time; a file is read at the pipeline's pace.
        let input_wait = input_behind_seconds.and_then(|_| self.read_wait_share(now));
        Event::Stats {
            renditions,
            upload_queue_bytes: self.budget.used() as u64,
            storage,
            input_behind_seconds,
            input_wait,
        }
    }

    /// Share of the window the reader waited for its source (none until two samples).
    fn read_wait_share(&mut self, now: Instant) -> Option<f64> {
        self.reads.push_back((now, self.pipeline.read_wait_us()));
        while self.reads.len() > 2 && self.reads.front().is_some_and(|(t, _)| now - *t > WINDOW) {
            self.reads.pop_front();
        }
        match (self.reads.front(), self.reads.back()) {
            (Some(&(t0, w0)), Some(&(t1, w1))) if t1 > t0 => {
                Some((w1.saturating_sub(w0) as f64 / 1e6 / (t1 - t0).as_secs_f64()).min(1.0))
            }
            _ => None,
        }
    }
}

impl RungHistory {
    fn sample(&mut self, label: &str, stats: &RungStats, now: Instant) -> RenditionStats {
        let counters = [&stats.media_us, &stats.busy_us, &stats.cpu_us].map(RungStats::get);
        self.samples.push_back((now, counters[0], counters[1], counters[2]));
        while self.samples.len() > 2 && self.samples.front().is_some_and(|(t, ..)| now - *t > WINDOW) {
            self.samples.pop_front();
        }
        let (speed, busy, cpu) = match (self.samples.front(), self.samples.back()) {
            (Some(&(t0, m0, b0, c0)), Some(&(t1, m1, b1, c1))) if t1 > t0 => {
                let wall = (t1 - t0).as_secs_f64();
                let per_wall = |a: u64, b: u64| b.saturating_sub(a) as f64 / 1e6 / wall;
                (per_wall(m0, m1), per_wall(b0, b1).min(1.0), per_wall(c0, c1))
            }
            _ => (0.0, 0.0, 0.0),
        };
        let now_counts = [&stats.encoded, &stats.dropped, &stats.duplicated].map(RungStats::get);
        let delta: Vec<u64> = now_counts.iter().zip(self.reported).map(|(n, r)| n.saturating_sub(r)).collect();
        self.reported = now_counts;
        RenditionStats {
            rendition: label.to_string(),
            speed,
            busy,
            cpu,
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

    #[test]
    fn cpu_and_the_readers_waiting_are_shares_of_the_window_and_waiting_only_for_a_live_source() {
        let pipeline = PipelineStats::new();
        let rung = pipeline.rung("640x360-30");
        let dir = tempfile::tempdir().unwrap();
        let storage =
            Counted::new(Arc::new(FsStorage::new(dir.path().to_path_buf(), 0o755, 0o644, false)), "filesystem");
        let mut reporter = Reporter::new(pipeline.clone(), storage, ByteBudget::new(1 << 20));
        let t0 = Instant::now();
        let sample = |r: &mut Reporter, at: u64| match r.sample(t0 + Duration::from_secs(at)) {
            Event::Stats { renditions, input_wait, .. } => (renditions[0].cpu, input_wait),
            other => panic!("{other:?}"),
        };
        // A file: nothing to wait for in real time.
        pipeline.add_read_wait(Duration::from_secs(1));
        assert_eq!(sample(&mut reporter, 0), (0.0, None));
        // Live from here: the reader waited 1.5 s of the next 2; the rendition used 1 s of CPU
        // in the 4 s since its first sample.
        pipeline.set_input_behind(0.2);
        assert_eq!(sample(&mut reporter, 2).1, None, "one sample is no window");
        pipeline.add_read_wait(Duration::from_millis(1500));
        RungStats::add(&rung.cpu_us, 1_000_000);
        let (cpu, wait) = sample(&mut reporter, 4);
        assert!((cpu - 0.25).abs() < 1e-9, "{cpu}");
        assert!(wait.is_some_and(|w| (w - 0.75).abs() < 1e-9), "{wait:?}");
    }
}
