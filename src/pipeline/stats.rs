//! What each rendition thread measures about itself, read once a second by the transcode's
//! reporter (which turns it into the `stats` event the worker's metrics come from), and the
//! supervisor's shed requests on their way to the rendition threads. Plain atomics: the
//! encoder threads only ever add, store or read.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::ladder::Rendition;

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
    /// Wall time the thread spent on its input (scaling, encoding, muxing, handing pictures
    /// on) rather than waiting for the next one, microseconds.
    pub busy_us: AtomicU64,
    /// CPU time of the thread on its input (the same spans as `busy_us`, without the time
    /// it waited for a core or a full queue), plus the emulated cost of `--test-emulated-load`,
    /// microseconds: what the rendition costs, which the overload governor sheds by.
    pub cpu_us: AtomicU64,
    /// The supervisor asked to shed this rendition; it stops at its next segment boundary.
    pub shed_requested: AtomicBool,
    /// It stopped encoding: no more segments, and no speed worth reporting.
    pub shed: AtomicBool,
    /// `--test-emulated-load`: what each encoded frame also costs (set with the ladder).
    pub emulated: OnceLock<EmulatedCost>,
}

/// A test-only stand-in for a slower machine (`--test-emulated-load`): the job has one
/// emulated core, and every encoded frame of a rendition holds it for that rendition's share
/// of the load (by encoded pixels), sleeping. The renditions queue for it, so a ladder with
/// load `L` runs at `1/L` real time on any machine fast enough to do the real work, and
/// shedding a rendition gives back exactly its share.
#[derive(Debug, Clone)]
pub struct EmulatedCost {
    core: Arc<Mutex<()>>,
    per_frame: Duration,
}

impl EmulatedCost {
    /// Holds the job's emulated core for one frame; returns how long it was held.
    pub fn spend(&self) -> Duration {
        let _core = self.core.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        std::thread::sleep(self.per_frame);
        self.per_frame
    }
}

/// CPU time the calling thread has used, microseconds (0 where the clock is unavailable).
pub fn thread_cpu_us() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes only into the timespec we own.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1_000
}

impl RungStats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub fn flag(flag: &AtomicBool) -> bool {
        flag.load(Ordering::Relaxed)
    }
}

/// Every rendition of a run, by label; filled when the pipeline has chosen its ladder.
#[derive(Debug, Default)]
pub struct PipelineStats {
    inner: Mutex<Inner>,
    /// A live source: how late its newest video packet was read, milliseconds (`i64::MIN`:
    /// not measured).
    input_behind_ms: std::sync::atomic::AtomicI64,
    /// `--test-emulated-load`: the load the whole ladder puts on the job's emulated core.
    emulated_load: Option<f64>,
    /// Wall time the reader spent waiting for its source to deliver the next packet,
    /// microseconds. A live pipeline that keeps up waits most of the time; one that is behind
    /// finds its input queued up (in the socket, at the ingest) and hardly waits at all.
    read_wait_us: AtomicU64,
}

#[derive(Debug, Default)]
struct Inner {
    rungs: Vec<(String, Arc<RungStats>)>,
    /// The ladder, once chosen: what a shed request is checked against.
    ladder: Vec<Rendition>,
    /// Shed requests that came before the ladder was chosen (a restarted run inherits them).
    early: HashSet<String>,
}

/// Gives every rendition its share of `load` emulated core-seconds per media second, by
/// encoded pixels per second.
fn emulate(load: f64, ladder: &[Rendition], rungs: &[(String, Arc<RungStats>)]) {
    let pixels = |r: &Rendition| f64::from(r.encoded_width) * f64::from(r.encoded_height);
    let total: f64 = ladder.iter().map(|r| pixels(r) * crate::pipeline::clock::to_f64(r.rate)).sum();
    if total <= 0.0 {
        return;
    }
    let core = Arc::new(Mutex::new(()));
    for r in ladder {
        let per_frame = Duration::from_secs_f64(load * pixels(r) / total);
        if let Some((_, stats)) = rungs.iter().find(|(label, _)| *label == r.label) {
            let _ = stats.emulated.set(EmulatedCost { core: core.clone(), per_frame });
        }
    }
}

/// Why a shed request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShedRefused {
    #[error("no rendition {0} in this stream's ladder")]
    Unknown(String),
    #[error("{0} is the ORIGINAL rendition, which is never shed")]
    Original(String),
    #[error("{0} is the smallest rendition, which is never shed")]
    Smallest(String),
    #[error("{0} is the last rendition still encoded")]
    Last(String),
}

impl PipelineStats {
    pub fn new() -> Arc<Self> {
        Self::emulating(None)
    }

    /// With `--test-emulated-load` (see [`EmulatedCost`]).
    pub fn emulating(load: Option<f64>) -> Arc<Self> {
        let stats = PipelineStats { emulated_load: load.filter(|l| *l > 0.0), ..PipelineStats::default() };
        stats.input_behind_ms.store(i64::MIN, Ordering::Relaxed);
        Arc::new(stats)
    }

    /// The reader measured how late a live source's packet was read.
    pub fn set_input_behind(&self, seconds: f64) {
        self.input_behind_ms.store((seconds * 1000.0).round() as i64, Ordering::Relaxed);
    }

    /// The reader waited this long for its source's next packet.
    pub fn add_read_wait(&self, waited: Duration) {
        RungStats::add(&self.read_wait_us, waited.as_micros() as u64);
    }

    /// Microseconds the reader has waited for its source so far.
    pub fn read_wait_us(&self) -> u64 {
        RungStats::get(&self.read_wait_us)
    }

    /// Seconds, for a live source once measured.
    pub fn input_behind(&self) -> Option<f64> {
        let ms = self.input_behind_ms.load(Ordering::Relaxed);
        (ms != i64::MIN).then(|| ms as f64 / 1000.0)
    }

    /// A fresh counter set for rendition `label`.
    pub fn rung(&self, label: &str) -> Arc<RungStats> {
        let stats = Arc::new(RungStats::default());
        if let Ok(mut inner) = self.inner.lock() {
            inner.rungs.push((label.to_string(), stats.clone()));
        }
        stats
    }

    /// The renditions known so far, in ladder order.
    pub fn rungs(&self) -> Vec<(String, Arc<RungStats>)> {
        self.inner.lock().map(|i| i.rungs.clone()).unwrap_or_default()
    }

    /// The ladder is chosen and every rendition registered its counters (before any picture
    /// reaches them): shed requests that came earlier are checked and applied now.
    pub fn set_ladder(&self, ladder: &[Rendition]) {
        let early = match self.inner.lock() {
            Ok(mut inner) => {
                inner.ladder = ladder.to_vec();
                if let Some(load) = self.emulated_load {
                    emulate(load, ladder, &inner.rungs);
                }
                std::mem::take(&mut inner.early)
            }
            Err(_) => return,
        };
        for label in early {
            if let Err(e) = self.request_shed(&label) {
                tracing::error!("shed request for {label} refused: {e}");
            }
        }
    }

    /// Asks rendition `label` to stop encoding from its next segment boundary. Never the
    /// ORIGINAL rendition, the smallest one, or the last one still encoded.
    pub fn request_shed(&self, label: &str) -> Result<(), ShedRefused> {
        let Ok(mut inner) = self.inner.lock() else { return Ok(()) };
        if inner.ladder.is_empty() {
            inner.early.insert(label.to_string());
            return Ok(());
        }
        let area = |r: &Rendition| u64::from(r.encoded_width) * u64::from(r.encoded_height);
        let Some(target) = inner.ladder.iter().find(|r| r.label == label) else {
            return Err(ShedRefused::Unknown(label.to_string()));
        };
        if target.original {
            return Err(ShedRefused::Original(label.to_string()));
        }
        let smallest = inner.ladder.iter().map(area).min().unwrap_or(0);
        if area(target) <= smallest {
            return Err(ShedRefused::Smallest(label.to_string()));
        }
        let requested = |l: &str| inner.rungs.iter().any(|(rl, s)| rl == l && RungStats::flag(&s.shed_requested));
        let still_encoded = inner.ladder.iter().filter(|r| r.label != label && !requested(&r.label)).count();
        if still_encoded == 0 {
            return Err(ShedRefused::Last(label.to_string()));
        }
        // The ladder is set once every rendition registered its counters.
        let (_, stats) = inner.rungs.iter().find(|(l, _)| l == label).ok_or(ShedRefused::Unknown(label.to_string()))?;
        stats.shed_requested.store(true, Ordering::Relaxed);
        Ok(())
    }
}
