//! `SERVER_CAPACITY=auto`: admission by CPU budget instead of by job count (sans-IO).
//!
//! The cost of a job, in cores while it runs live, is modelled as
//! `decode · source pixels/s + encode · Σ rendition pixels/s`, with both coefficients
//! measured at start-up by running the built-in test source through the encoder settings in
//! use (`worker::calibrate`). The budget is the machine's cores less a headroom for the
//! worker, the publisher's uploads and the system. The coordinator only understands counts,
//! so the remaining budget is registered as how many more default-ladder 720p30 jobs fit.
//!
//! The start-up measurement cannot know the real sources (H.264 decoding is costlier than
//! the generated test source) or what else runs on the machine, so the running jobs' real
//! CPU corrects it: the ratio of measured to predicted cost, smoothed, scales every
//! prediction.

use std::collections::HashMap;

use crate::ladder::{fit_ladder, parse_list, Rendition, RequestItem, SourceVideo};
use crate::pipeline::clock::{to_f64, Q};

use super::table::interface::JobId;

/// Share of the machine's cores given to jobs; the rest is for the worker itself, the
/// uploads, the system, and the measurement's own error.
pub const HEADROOM: f64 = 0.85;
/// What an ENCODE-START's ORIGINAL is assumed to be until the job reports its real source:
/// the size and rate most publishers send.
pub const ASSUMED_SOURCE: (i64, i64, i64) = (1280, 720, 30);
/// Smoothing of the correction: each new measurement moves it this far.
const CORRECTION_WEIGHT: f64 = 0.3;
/// The correction stays within these bounds (a wild measurement must not stop admission).
const CORRECTION_RANGE: (f64, f64) = (0.5, 3.0);

/// Cores per pixel per second, measured at start-up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CostModel {
    pub decode_per_pixel: f64,
    pub encode_per_pixel: f64,
}

/// Pixels per second of one rendition.
pub fn pixel_rate(width: u32, height: u32, rate: Q) -> f64 {
    f64::from(width) * f64::from(height) * to_f64(rate)
}

impl CostModel {
    /// From two measured runs on the same source: `full` (cores) for a ladder of
    /// `full_pixels` pixels/s, `small` for one of `small_pixels`; `source_pixels` decoded.
    pub fn from_runs(source_pixels: f64, full: (f64, f64), small: (f64, f64)) -> Option<CostModel> {
        let ((full_cores, full_pixels), (small_cores, small_pixels)) = (full, small);
        if !(full_pixels > small_pixels && source_pixels > 0.0 && full_cores > 0.0 && small_cores > 0.0) {
            return None;
        }
        let encode = ((full_cores - small_cores) / (full_pixels - small_pixels)).max(0.0);
        let decode = ((small_cores - encode * small_pixels) / source_pixels).max(0.0);
        // Both runs cost nothing measurable: no model.
        (encode > 0.0 || decode > 0.0).then_some(CostModel { decode_per_pixel: decode, encode_per_pixel: encode })
    }

    /// Cores a job with this ladder needs while live.
    pub fn cost(&self, source_pixels: f64, ladder: &[Rendition]) -> f64 {
        let encoded: f64 = ladder.iter().map(|r| pixel_rate(r.encoded_width, r.encoded_height, r.rate)).sum();
        self.decode_per_pixel * source_pixels + self.encode_per_pixel * encoded
    }

    /// A job's cost from its ENCODE-START `Resolutions` (spec §4: nothing valid means
    /// ORIGINAL), on the assumed source.
    pub fn cost_of_request(&self, resolutions: &str) -> f64 {
        let (mut items, _) = parse_list(resolutions);
        if items.is_empty() {
            items.push(RequestItem::Original);
        }
        let source = assumed_source();
        self.cost(source_pixels(&source), &fit_ladder(&source, &items))
    }

    /// A running job's cost from the ladder it chose. ORIGINAL is the source's size; without
    /// it the largest rendition stands in for the decoded size.
    pub fn cost_of_ladder(&self, ladder: &[Rendition]) -> f64 {
        let decoded = ladder
            .iter()
            .find(|r| r.original)
            .or_else(|| ladder.iter().max_by_key(|r| u64::from(r.width) * u64::from(r.height)))
            .map_or(0.0, |r| pixel_rate(r.width, r.height, r.rate));
        self.cost(decoded, ladder)
    }
}

pub fn assumed_source() -> SourceVideo {
    let (w, h, fps) = ASSUMED_SOURCE;
    SourceVideo { width: w, height: h, avg_rate: Some(Q::from_integer(fps)), base_rate: Some(Q::from_integer(fps)) }
}

fn source_pixels(s: &SourceVideo) -> f64 {
    s.width as f64 * s.height as f64 * s.r0().map_or(30.0, to_f64)
}

/// The budget and what the running jobs take of it.
#[derive(Debug, Clone)]
pub struct Budget {
    pub model: CostModel,
    /// Cores given to jobs.
    pub cores: f64,
    /// Cost of the unit the coordinator counts in: the default ladder on a 720p30 source.
    pub unit: f64,
    /// Measured / predicted cost of the running jobs, smoothed (1: the model is right).
    correction: f64,
    /// Predicted cost per running job (uncorrected).
    jobs: HashMap<JobId, f64>,
}

impl Budget {
    pub fn new(model: CostModel, cores: f64, unit: f64) -> Budget {
        Budget { model, cores, unit, correction: 1.0, jobs: HashMap::new() }
    }

    pub fn correction(&self) -> f64 {
        self.correction
    }

    /// Cores the running jobs are predicted to use, corrected.
    pub fn used(&self) -> f64 {
        self.jobs.values().sum::<f64>() * self.correction
    }

    /// Whether a job of `cost` (uncorrected) fits. A job always fits an idle worker: it
    /// gets its chance, and shedding handles a ladder too large for the whole machine.
    pub fn fits(&self, cost: f64) -> bool {
        self.jobs.is_empty() || self.used() + cost * self.correction <= self.cores
    }

    /// The capacity to register: how many more unit jobs fit.
    pub fn capacity(&self) -> i32 {
        let unit = (self.unit * self.correction).max(1e-6);
        ((self.cores - self.used()) / unit).floor().clamp(0.0, 10_000.0) as i32
    }

    pub fn admit(&mut self, job: JobId, cost: f64) {
        self.jobs.insert(job, cost);
    }

    /// The job reported its real ladder: its prediction follows.
    pub fn revise(&mut self, job: JobId, cost: f64) {
        if let Some(c) = self.jobs.get_mut(&job) {
            *c = cost;
        }
    }

    pub fn release(&mut self, job: JobId) {
        self.jobs.remove(&job);
    }

    /// The running jobs' measured cores (CPU seconds per second of their processes, over a
    /// recent window): moves the correction toward measured / predicted.
    pub fn measured(&mut self, cores: &[(JobId, f64)]) {
        let (measured, predicted) = cores
            .iter()
            .filter_map(|(job, used)| self.jobs.get(job).map(|p| (*used, *p)))
            .fold((0.0, 0.0), |(m, p), (used, pred)| (m + used, p + pred));
        if predicted <= 0.0 || measured <= 0.0 {
            return;
        }
        let ratio = (measured / predicted).clamp(CORRECTION_RANGE.0, CORRECTION_RANGE.1);
        self.correction = (self.correction + CORRECTION_WEIGHT * (ratio - self.correction))
            .clamp(CORRECTION_RANGE.0, CORRECTION_RANGE.1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ladder::Profile;

    fn model() -> CostModel {
        // Two runs on 720p30 (27.6 Mpixel/s): the full default ladder and 426x240 alone.
        let source = 1280.0 * 720.0 * 30.0;
        let default = Profile::default_builtin().fit(&assumed_source());
        let full_pixels: f64 = default.iter().map(|r| pixel_rate(r.encoded_width, r.encoded_height, r.rate)).sum();
        let small_pixels = pixel_rate(426, 240, Q::from_integer(30));
        CostModel::from_runs(source, (1.10, full_pixels), (0.20, small_pixels)).unwrap()
    }

    /// A 1080p60 source with five rungs.
    fn big_ladder() -> Vec<Rendition> {
        let source = SourceVideo {
            width: 1920,
            height: 1080,
            avg_rate: Some(Q::from_integer(60)),
            base_rate: Some(Q::from_integer(60)),
        };
        let (items, _) = parse_list("ORIGINAL,1280x720-60,854x480-30,640x360-30,426x240-30");
        fit_ladder(&source, &items)
    }

    #[test]
    fn the_model_reproduces_its_runs_and_prices_ladders_by_pixels() {
        let m = model();
        assert!(m.decode_per_pixel > 0.0 && m.encode_per_pixel > 0.0, "{m:?}");
        let default = Profile::default_builtin().fit(&assumed_source());
        assert!((m.cost_of_ladder(&default) - 1.10).abs() < 1e-9);
        // ORIGINAL alone on the assumed 720p30 source costs less than the default ladder, a
        // 1080p60 five-rung ladder much more.
        let original = m.cost_of_request("ORIGINAL");
        assert!(original < 1.10 && original > 0.2, "{original}");
        let big = m.cost_of_ladder(&big_ladder());
        assert!(big > 2.0 * 1.10, "{big}");
        assert_eq!(m.cost_of_request(""), original, "nothing valid is ORIGINAL");
        assert!(CostModel::from_runs(1.0, (1.0, 1.0), (1.0, 2.0)).is_none(), "needs a larger full run");
    }

    #[test]
    fn capacity_counts_unit_jobs_left_and_admission_follows_the_corrected_budget() {
        let m = model();
        let unit = m.cost_of_ladder(&Profile::default_builtin().fit(&assumed_source()));
        let mut b = Budget::new(m, 2.0 * HEADROOM, unit);
        assert_eq!(b.capacity(), 1, "1.7 cores hold one 1.1-core default job");
        let big = m.cost_of_ladder(&big_ladder());
        assert!(b.fits(big), "an idle worker takes any job");
        b.admit(1, unit);
        assert_eq!(b.capacity(), 0);
        assert!(!b.fits(big));
        let small = m.cost_of_request("426x240-30");
        assert!(b.fits(small), "{small}");
        // The running job really uses half the prediction: the budget follows, step by step.
        for _ in 0..20 {
            b.measured(&[(1, unit / 2.0)]);
        }
        assert!((b.correction() - 0.5).abs() < 0.01, "{}", b.correction());
        assert_eq!(b.capacity(), 2);
        b.release(1);
        assert_eq!(b.capacity(), 3);
    }
}
