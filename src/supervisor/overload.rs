//! Overload: which jobs fall behind real time, what to shed, and when to stop taking work
//! (sans-IO; the runner feeds it the children's `stats` events and executes its decisions).
//!
//! A job is *behind* when one of its renditions, over the child's 10 s window, encoded less
//! than [`BEHIND_SPEED`] media seconds per wall second while its thread was busy at least
//! [`BUSY`] of the time (it had input waiting and could not keep up), or when its live
//! source's packets are read more than [`INPUT_BEHIND`] late (whatever part of the pipeline,
//! the decoder included, holds the reader back). A slow or stalled publisher lowers the
//! speed too, but then the threads wait for input and packets are read as they come, so it
//! never sheds anything.
//!
//! Policy:
//! - A job is behind while any of its (not shed) renditions is. Once some job has been behind
//!   for [`OverloadPolicy::after`], one rendition is shed: the most expensive (encoded pixels
//!   per second) of the newest job that has more than one rendition still encoded, never
//!   ORIGINAL or the smallest. Then every job gets a fresh `after` to show the effect before
//!   the next one goes. A job that cannot keep up with what it has left keeps running, and
//!   this is said once.
//! - While any job has been behind for [`CONFIRM`], the worker is overloaded: it registers
//!   capacity 0 and refuses new jobs; once no job has been behind for
//!   [`OverloadPolicy::recover`], capacity comes back.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use super::table::interface::JobId;
use crate::child_protocol::RenditionStats;
use crate::ladder::Rendition;

/// Below this real-time factor a busy rendition is behind (a live source runs at 1.0; the
/// margin absorbs the window's sampling jitter).
pub const BEHIND_SPEED: f64 = 0.97;
/// Share of the window a rendition's thread must be working to count as unable to keep up.
pub const BUSY: f64 = 0.9;
/// How late a live source's packets may be read before the job counts as behind, seconds.
pub const INPUT_BEHIND: f64 = 3.0;
/// How long a job must be behind before the worker stops taking work (two `stats` samples,
/// so one slow sample does not flap the capacity).
pub const CONFIRM: Duration = Duration::from_secs(4);

/// `HLS_OVERLOAD_SECONDS` and `HLS_OVERLOAD_RECOVER_SECONDS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverloadPolicy {
    /// How long a job may be behind before a rendition is shed.
    pub after: Duration,
    /// How long every job must keep up before capacity is offered again.
    pub recover: Duration,
}

/// What the runner must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Tell the job's child to stop encoding this rendition.
    Shed { job: JobId, rendition: String },
    /// Some job is behind and nothing is left to shed: it keeps running behind.
    NothingToShed { job: JobId },
    /// The worker became overloaded (`true`) or recovered (`false`).
    Overloaded(bool),
}

#[derive(Debug)]
struct JobLoad {
    ladder: Vec<Rendition>,
    shed: HashSet<String>,
    behind_since: Option<Instant>,
    /// `NothingToShed` was said for the current episode.
    said_stuck: bool,
}

#[derive(Debug)]
pub struct Governor {
    policy: OverloadPolicy,
    /// Keyed by acceptance order: the newest job is the last.
    jobs: BTreeMap<JobId, JobLoad>,
    overloaded: bool,
    /// Since when no job has been behind (while overloaded).
    calm_since: Option<Instant>,
    /// No shed before this (every job gets `after` to show the effect of the last one).
    hold_until: Option<Instant>,
}

impl Governor {
    pub fn new(policy: OverloadPolicy) -> Governor {
        Governor { policy, jobs: BTreeMap::new(), overloaded: false, calm_since: None, hold_until: None }
    }

    pub fn is_overloaded(&self) -> bool {
        self.overloaded
    }

    /// The job's run opened its source with this ladder (a restarted run reports the same).
    pub fn started(&mut self, job: JobId, ladder: &[Rendition]) {
        let load = self.jobs.entry(job).or_insert_with(|| JobLoad {
            ladder: Vec::new(),
            shed: HashSet::new(),
            behind_since: None,
            said_stuck: false,
        });
        load.ladder = ladder.to_vec();
        load.behind_since = None;
    }

    /// Time passes: capacity comes back once every job has kept up for the recovery time,
    /// even when no `stats` arrive (the last job ended).
    pub fn tick(&mut self, now: Instant) -> Vec<Decision> {
        self.update_overloaded(now)
    }

    /// The job is closed: it no longer counts.
    pub fn gone(&mut self, now: Instant, job: JobId) -> Vec<Decision> {
        self.jobs.remove(&job);
        self.update_overloaded(now)
    }

    /// Renditions the job currently encodes, as shed so far.
    pub fn shed_of(&self, job: JobId) -> Vec<String> {
        self.jobs.get(&job).map(|j| j.shed.iter().cloned().collect()).unwrap_or_default()
    }

    /// A `stats` event of the job's child.
    pub fn stats(
        &mut self,
        now: Instant,
        job: JobId,
        renditions: &[RenditionStats],
        input_behind: Option<f64>,
    ) -> Vec<Decision> {
        let Some(load) = self.jobs.get_mut(&job) else { return Vec::new() };
        let slow_rendition =
            renditions.iter().any(|r| !load.shed.contains(&r.rendition) && r.speed < BEHIND_SPEED && r.busy >= BUSY);
        let behind = slow_rendition || input_behind.is_some_and(|s| s > INPUT_BEHIND);
        if behind {
            load.behind_since.get_or_insert(now);
        } else {
            load.behind_since = None;
            load.said_stuck = false;
        }
        let mut out = self.update_overloaded(now);
        out.extend(self.shed_if_due(now));
        out
    }

    fn update_overloaded(&mut self, now: Instant) -> Vec<Decision> {
        let behind =
            self.jobs.values().any(|j| j.behind_since.is_some_and(|t| now.saturating_duration_since(t) >= CONFIRM));
        let any_behind = self.jobs.values().any(|j| j.behind_since.is_some());
        if behind {
            self.calm_since = None;
            if !self.overloaded {
                self.overloaded = true;
                return vec![Decision::Overloaded(true)];
            }
        } else if self.overloaded && !any_behind {
            let calm = *self.calm_since.get_or_insert(now);
            if now.saturating_duration_since(calm) >= self.policy.recover {
                self.overloaded = false;
                self.calm_since = None;
                return vec![Decision::Overloaded(false)];
            }
        } else if any_behind {
            self.calm_since = None;
        }
        Vec::new()
    }

    fn shed_if_due(&mut self, now: Instant) -> Vec<Decision> {
        let after = self.policy.after;
        let due =
            self.jobs.iter().find(|(_, j)| j.behind_since.is_some_and(|t| now.saturating_duration_since(t) >= after));
        let Some((&stuck, _)) = due else { return Vec::new() };
        if self.hold_until.is_some_and(|t| now < t) {
            return Vec::new();
        }
        let victim = self.jobs.iter().rev().find_map(|(&id, j)| sheddable(j).map(|r| (id, r)));
        match victim {
            Some((job, rendition)) => {
                self.jobs.get_mut(&job).expect("found above").shed.insert(rendition.clone());
                self.hold_until = Some(now + after);
                vec![Decision::Shed { job, rendition }]
            }
            None => {
                let load = self.jobs.get_mut(&stuck).expect("found above");
                if std::mem::replace(&mut load.said_stuck, true) {
                    Vec::new()
                } else {
                    vec![Decision::NothingToShed { job: stuck }]
                }
            }
        }
    }
}

/// Encoded pixels per second: what a rendition costs the encoder.
fn cost(r: &Rendition) -> f64 {
    f64::from(r.encoded_width) * f64::from(r.encoded_height) * crate::pipeline::clock::to_f64(r.rate)
}

/// The job's most expensive rendition that may go: not ORIGINAL, not the smallest, and only
/// while more than one rendition is still encoded.
fn sheddable(job: &JobLoad) -> Option<String> {
    let encoded: Vec<&Rendition> = job.ladder.iter().filter(|r| !job.shed.contains(&r.label)).collect();
    if encoded.len() < 2 {
        return None;
    }
    let area = |r: &Rendition| u64::from(r.encoded_width) * u64::from(r.encoded_height);
    let smallest = job.ladder.iter().map(area).min()?;
    encoded
        .into_iter()
        .filter(|r| !r.original && area(r) > smallest)
        .max_by(|a, b| cost(a).total_cmp(&cost(b)))
        .map(|r| r.label.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rung(label: &str, w: u32, h: u32, original: bool) -> Rendition {
        Rendition { original, ..crate::test_fixtures::rendition(label, w, h) }
    }

    fn ladder() -> Vec<Rendition> {
        vec![
            rung("1280x720-30", 1280, 720, true),
            rung("854x480-30", 854, 480, false),
            rung("640x360-30", 640, 360, false),
            rung("426x240-30", 426, 240, false),
        ]
    }

    fn stats(labels: &[&str], speed: f64, busy: f64) -> Vec<RenditionStats> {
        labels
            .iter()
            .map(|l| RenditionStats {
                rendition: l.to_string(),
                speed,
                busy,
                lag_seconds: 0.3,
                encoded: 60,
                dropped: 0,
                duplicated: 0,
            })
            .collect()
    }

    const ALL: [&str; 4] = ["1280x720-30", "854x480-30", "640x360-30", "426x240-30"];
    const POLICY: OverloadPolicy = OverloadPolicy { after: Duration::from_secs(10), recover: Duration::from_secs(30) };

    #[test]
    fn a_slow_source_is_not_overload() {
        let mut g = Governor::new(POLICY);
        let t0 = Instant::now();
        g.started(1, &ladder());
        for s in 0..30 {
            // Speed 0.3 but the threads wait for input most of the time.
            let out = g.stats(t0 + Duration::from_secs(2 * s), 1, &stats(&ALL, 0.3, 0.2), None);
            assert!(out.is_empty(), "{out:?}");
        }
        assert!(!g.is_overloaded());
    }

    #[test]
    fn the_newest_jobs_most_expensive_rendition_goes_first_and_never_original_or_the_smallest() {
        let mut g = Governor::new(POLICY);
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        g.started(1, &ladder());
        g.started(2, &ladder());
        // Job 1 is behind; job 2 keeps up.
        assert!(g.stats(at(0), 1, &stats(&ALL, 0.8, 1.0), None).is_empty());
        assert!(g.stats(at(0), 2, &stats(&ALL, 1.0, 0.7), None).is_empty());
        assert_eq!(g.stats(at(4), 1, &stats(&ALL, 0.8, 1.0), None), [Decision::Overloaded(true)]);
        assert!(g.stats(at(8), 1, &stats(&ALL, 0.8, 1.0), None).is_empty());
        // After 10 s behind: the newest job (2) loses its most expensive sheddable rendition.
        let shed = |job: u64, r: &str| Decision::Shed { job, rendition: r.into() };
        assert_eq!(g.stats(at(10), 1, &stats(&ALL, 0.8, 1.0), None), [shed(2, "854x480-30")]);
        // The next waits another 10 s.
        assert!(g.stats(at(14), 1, &stats(&ALL, 0.8, 1.0), None).is_empty());
        assert_eq!(g.stats(at(20), 1, &stats(&ALL, 0.8, 1.0), None), [shed(2, "640x360-30")]);
        // Job 2 has ORIGINAL and the smallest left: job 1 is next.
        assert_eq!(g.stats(at(30), 1, &stats(&ALL, 0.8, 1.0), None), [shed(1, "854x480-30")]);
        assert_eq!(g.stats(at(40), 1, &stats(&ALL, 0.8, 1.0), None), [shed(1, "640x360-30")]);
        assert_eq!(g.stats(at(50), 1, &stats(&ALL, 0.8, 1.0), None), [Decision::NothingToShed { job: 1 }]);
        assert!(g.stats(at(60), 1, &stats(&ALL, 0.8, 1.0), None).is_empty(), "said once");
        // A shed rendition's figures no longer count.
        let kept = ["1280x720-30", "426x240-30"];
        assert!(g.stats(at(62), 1, &stats(&kept, 1.0, 0.9), None).is_empty());
        assert!(g.is_overloaded(), "capacity comes back only after the recovery time");
        assert!(g.stats(at(80), 1, &stats(&kept, 1.0, 0.9), None).is_empty());
        assert_eq!(g.stats(at(92), 1, &stats(&kept, 1.0, 0.9), None), [Decision::Overloaded(false)]);
        let mut shed_of_1 = g.shed_of(1);
        shed_of_1.sort();
        assert_eq!(shed_of_1, ["640x360-30", "854x480-30"]);
    }

    #[test]
    fn a_reader_held_back_is_behind_even_when_the_renditions_wait() {
        let mut g = Governor::new(POLICY);
        let t0 = Instant::now();
        g.started(1, &ladder());
        // The decoder is starved: renditions idle, but packets are read 5 s late.
        assert!(g.stats(t0, 1, &stats(&ALL, 0.6, 0.3), Some(5.0)).is_empty());
        assert_eq!(g.stats(t0 + CONFIRM, 1, &stats(&ALL, 0.6, 0.3), Some(6.0)), [Decision::Overloaded(true)]);
        // Read on time again: not behind.
        assert!(g.stats(t0 + CONFIRM * 2, 1, &stats(&ALL, 0.6, 0.3), Some(0.4)).is_empty());
    }

    #[test]
    fn a_closed_job_no_longer_holds_the_worker_overloaded() {
        let mut g = Governor::new(POLICY);
        let t0 = Instant::now();
        g.started(1, &ladder());
        g.stats(t0, 1, &stats(&ALL, 0.5, 1.0), None);
        assert_eq!(g.stats(t0 + CONFIRM, 1, &stats(&ALL, 0.5, 1.0), None), [Decision::Overloaded(true)]);
        assert!(g.gone(t0 + CONFIRM, 1).is_empty());
        assert_eq!(g.tick(t0 + CONFIRM + POLICY.recover), [Decision::Overloaded(false)]);
    }
}
