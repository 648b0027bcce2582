//! Overload: which jobs fall behind real time, what to shed, and when to stop taking work
//! (sans-IO; the runner feeds it the children's `stats` events and executes its decisions).
//!
//! A job is *behind* when, over the child's [`STATS_WINDOW`], its live source's reader found
//! its input queued up (it waited for the next packet less than [`INPUT_QUEUED`] of the
//! time) while the job encoded less than [`BEHIND_SPEED`] media seconds per wall second: the
//! source had more to give than the job could take. That holds however the machine's CPU
//! is shared out among the job's threads. A job whose rendition's thread was busy at least
//! [`BUSY`] of the window at such a speed is behind too (any source, files included); so is
//! one whose child does not report the reader's waiting and whose packets are read more
//! than [`INPUT_BEHIND`] late. A slow or stalled publisher lowers the speed too, but then
//! the reader waits for it and the threads wait for input, so it never sheds anything.
//!
//! Policy:
//! - Once a job has been behind for [`OverloadPolicy::after`], it sheds at once, in
//!   proportion to its deficit: at speed `s` its encoding must cost `s / TARGET_SPEED` of what
//!   it costs now, so it sheds its most expensive renditions (by the CPU each rendition's
//!   thread measured; never ORIGINAL, never the smallest) until their cost covers the rest.
//!   Every job that is behind does so, each by its own measure.
//! - Then it re-measures: a shed takes effect at the job's next segment boundary, and the
//!   job's next verdict waits for a [`STATS_WINDOW`] measured wholly after that; if the job
//!   is still behind then, the rule runs again at once. A job that cannot keep up with what
//!   it has left keeps running, and this is said once.
//! - While any job has been behind for [`CONFIRM`], the worker is overloaded: it registers
//!   capacity 0 and refuses new jobs; once no job has been behind for
//!   [`OverloadPolicy::recover`], capacity comes back. Shed renditions stay shed.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use super::table::interface::JobId;
use crate::child_protocol::{RenditionStats, STATS_WINDOW};
use crate::ladder::Rendition;

/// Below this real-time factor a busy rendition is behind (a live source runs at 1.0; the
/// margin absorbs the window's sampling jitter).
pub const BEHIND_SPEED: f64 = 0.97;
/// Share of the window a rendition's thread must be working to count as unable to keep up.
pub const BUSY: f64 = 0.9;
/// Below this share of the window spent waiting for its source, a live reader has its input
/// queued up. A job that keeps up waits most of the time (reading and decoding take a
/// fraction of real time); a job that is behind finds the next packet already there.
pub const INPUT_QUEUED: f64 = 0.1;
/// Without the reader's waiting share (an older child): how late a live source's packets
/// may be read before the job counts as behind, seconds.
pub const INPUT_BEHIND: f64 = 3.0;
/// How long a job must be behind before the worker stops taking work (two `stats` samples,
/// so one slow sample does not flap the capacity).
pub const CONFIRM: Duration = Duration::from_secs(4);
/// The speed a shed aims the job at: above real time, so that it also works off the backlog
/// it built while behind, and so that a measurement a few per cent optimistic still sheds
/// enough.
pub const TARGET_SPEED: f64 = 1.1;

/// `HLS_OVERLOAD_SECONDS` and `HLS_OVERLOAD_RECOVER_SECONDS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverloadPolicy {
    /// How long a job may be behind before it sheds.
    pub after: Duration,
    /// How long every job must keep up before capacity is offered again.
    pub recover: Duration,
}

/// What the runner must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Tell the job's child to stop encoding this rendition. `speed`: the job's measured
    /// speed; `share`: this rendition's part of the job's encoding cost.
    Shed { job: JobId, rendition: String, speed: f64, share: f64 },
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
    /// The latest `stats` of the renditions still encoded.
    measured: Vec<RenditionStats>,
    /// Sheds asked for and not yet reported done by the child (`rendition_shed`).
    pending: HashSet<String>,
    /// No verdict on this job before this: its window must be wholly after its last shed.
    settling_until: Option<Instant>,
}

#[derive(Debug)]
pub struct Governor {
    policy: OverloadPolicy,
    /// Keyed by acceptance order.
    jobs: BTreeMap<JobId, JobLoad>,
    overloaded: bool,
    /// Since when no job has been behind (while overloaded).
    calm_since: Option<Instant>,
}

impl Governor {
    pub fn new(policy: OverloadPolicy) -> Governor {
        Governor { policy, jobs: BTreeMap::new(), overloaded: false, calm_since: None }
    }

    pub fn is_overloaded(&self) -> bool {
        self.overloaded
    }

    /// The job's run opened its source with this ladder (a restarted run reports the same,
    /// and sheds again what was shed before).
    pub fn started(&mut self, job: JobId, ladder: &[Rendition]) {
        let load = self.jobs.entry(job).or_insert_with(|| JobLoad {
            ladder: Vec::new(),
            shed: HashSet::new(),
            behind_since: None,
            said_stuck: false,
            measured: Vec::new(),
            pending: HashSet::new(),
            settling_until: None,
        });
        load.ladder = ladder.to_vec();
        load.behind_since = None;
        load.measured.clear();
        load.pending.clear();
        load.settling_until = None;
    }

    /// The job's child stopped encoding `rendition` (its `rendition_shed` event): once every
    /// shed asked for is done, one more window measures the job without them.
    pub fn took_effect(&mut self, now: Instant, job: JobId, rendition: &str) {
        let Some(load) = self.jobs.get_mut(&job) else { return };
        load.shed.insert(rendition.to_string());
        if load.pending.remove(rendition) && load.pending.is_empty() {
            load.settling_until = Some(now + STATS_WINDOW);
        }
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

    /// Renditions the job no longer encodes, or was told to stop encoding.
    pub fn shed_of(&self, job: JobId) -> Vec<String> {
        self.jobs.get(&job).map(|j| j.shed.iter().cloned().collect()).unwrap_or_default()
    }

    /// A `stats` event of the job's child.
    pub fn stats(
        &mut self,
        now: Instant,
        job: JobId,
        renditions: &[RenditionStats],
        input: ReaderFigures,
    ) -> Vec<Decision> {
        let Some(load) = self.jobs.get_mut(&job) else { return Vec::new() };
        load.measured = renditions.iter().filter(|r| !load.shed.contains(&r.rendition)).cloned().collect();
        // While a shed settles the window still holds the time before it: no verdict either
        // way. A job that was behind stays so until a clean window says otherwise, and if it
        // says it is still behind, the job has been behind for longer than `after` and sheds
        // again at once.
        if load.settling_until.is_none_or(|t| now >= t) {
            if load.settling_until.take().is_some() {
                load.pending.clear();
            }
            if is_behind(&load.measured, input) {
                load.behind_since.get_or_insert(now);
            } else {
                load.behind_since = None;
                load.said_stuck = false;
            }
        }
        let mut out = self.update_overloaded(now);
        out.extend(self.shed_if_due(now, job));
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

    /// The job's proportional shed, once it has been behind for `after` and no earlier shed
    /// is settling.
    fn shed_if_due(&mut self, now: Instant, job: JobId) -> Vec<Decision> {
        let after = self.policy.after;
        let Some(load) = self.jobs.get_mut(&job) else { return Vec::new() };
        let Some(since) = load.behind_since else { return Vec::new() };
        let settling = load.settling_until.is_some_and(|t| now < t);
        if settling || now.saturating_duration_since(since) < after {
            return Vec::new();
        }
        let plan = proportional_shed(&load.ladder, &load.shed, &load.measured);
        if plan.renditions.is_empty() {
            return if std::mem::replace(&mut load.said_stuck, true) {
                Vec::new()
            } else {
                vec![Decision::NothingToShed { job }]
            };
        }
        // Until the child reports every shed done (`took_effect`), and at the latest one
        // period and a window from now (a shed it refused never reports).
        load.settling_until = Some(now + after + STATS_WINDOW);
        plan.renditions
            .into_iter()
            .map(|(rendition, share)| {
                load.shed.insert(rendition.clone());
                load.pending.insert(rendition.clone());
                Decision::Shed { job, rendition, speed: plan.speed, share }
            })
            .collect()
    }
}

/// What a `stats` event says about a live source's reader.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ReaderFigures {
    /// How late its newest packet was read, seconds.
    pub behind: Option<f64>,
    /// Share of the window it waited for the source.
    pub wait: Option<f64>,
}

/// Whether these measurements (the renditions still encoded) say the job is behind.
fn is_behind(measured: &[RenditionStats], input: ReaderFigures) -> bool {
    let speed = job_speed(measured);
    let slow_rendition = measured.iter().any(|r| r.speed < BEHIND_SPEED && r.busy >= BUSY);
    let queued_up = match input.wait {
        Some(wait) => wait < INPUT_QUEUED && speed < BEHIND_SPEED,
        // Behind unless the encoders are working off the backlog faster than real time.
        None => input.behind.is_some_and(|s| s > INPUT_BEHIND) && speed < 1.0,
    };
    slow_rendition || queued_up
}

/// The job runs as fast as its slowest rendition (they share the reader, and its queues
/// are short).
fn job_speed(measured: &[RenditionStats]) -> f64 {
    measured.iter().map(|r| r.speed).fold(f64::INFINITY, f64::min)
}

/// What a job behind real time sheds.
#[derive(Debug, Clone, PartialEq)]
pub struct ShedPlan {
    /// The job's measured speed.
    pub speed: f64,
    /// The renditions to shed, most expensive first, with their share of the job's cost.
    pub renditions: Vec<(String, f64)>,
}

/// The proportional rule: at speed `s` the encoding must come down to `s / TARGET_SPEED` of
/// its cost, so the most expensive renditions that may go (not ORIGINAL, not the smallest)
/// go until their cost covers the rest, at least one. A rendition's cost is the CPU its
/// thread measured; while some rendition has no measurement, encoded pixels per second
/// stand in for every one.
pub fn proportional_shed(ladder: &[Rendition], shed: &HashSet<String>, measured: &[RenditionStats]) -> ShedPlan {
    let encoded: Vec<&Rendition> = ladder.iter().filter(|r| !shed.contains(&r.label)).collect();
    let cpu = |r: &Rendition| measured.iter().find(|m| m.rendition == r.label).map_or(0.0, |m| m.cpu);
    let by_cpu = encoded.iter().all(|r| cpu(r) > 0.0);
    let cost = |r: &Rendition| if by_cpu { cpu(r) } else { pixel_rate(r) };
    let total: f64 = encoded.iter().map(|r| cost(r)).sum();
    let speed = job_speed(measured).min(TARGET_SPEED);
    let speed = if speed.is_finite() { speed.max(0.0) } else { 0.0 };
    let need = total * (1.0 - speed / TARGET_SPEED);
    let area = |r: &Rendition| u64::from(r.encoded_width) * u64::from(r.encoded_height);
    let smallest = ladder.iter().map(area).min().unwrap_or(0);
    let mut candidates: Vec<&Rendition> =
        encoded.iter().copied().filter(|r| !r.original && area(r) > smallest).collect();
    candidates.sort_by(|a, b| cost(b).total_cmp(&cost(a)).then(pixel_rate(b).total_cmp(&pixel_rate(a))));
    let mut renditions = Vec::new();
    let mut covered = 0.0;
    for r in candidates {
        if covered >= need && !renditions.is_empty() {
            break;
        }
        covered += cost(r);
        renditions.push((r.label.clone(), if total > 0.0 { cost(r) / total } else { 0.0 }));
    }
    ShedPlan { speed, renditions }
}

/// Encoded pixels per second.
fn pixel_rate(r: &Rendition) -> f64 {
    f64::from(r.encoded_width) * f64::from(r.encoded_height) * crate::pipeline::clock::to_f64(r.rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rung(label: &str, w: u32, h: u32, original: bool) -> Rendition {
        Rendition { original, ..crate::test_fixtures::rendition(label, w, h) }
    }

    /// A 1080p source's four rungs below ORIGINAL (none of them is ORIGINAL).
    fn ladder() -> Vec<Rendition> {
        vec![
            rung("1280x720-30", 1280, 720, false),
            rung("854x480-30", 854, 480, false),
            rung("640x360-30", 640, 360, false),
            rung("426x240-30", 426, 240, false),
        ]
    }

    const ALL: [&str; 4] = ["1280x720-30", "854x480-30", "640x360-30", "426x240-30"];
    /// CPU (cores) of each rung of [`ladder`], as a 2-core machine measures the default preset.
    const CPU: [f64; 4] = [0.40, 0.20, 0.12, 0.08];

    fn measured(labels: &[&str], speed: f64, busy: f64) -> Vec<RenditionStats> {
        labels
            .iter()
            .map(|l| RenditionStats {
                rendition: l.to_string(),
                speed,
                busy,
                cpu: ALL.iter().position(|a| a == l).map_or(0.0, |i| CPU[i]),
                lag_seconds: 0.3,
                encoded: 60,
                dropped: 0,
                duplicated: 0,
            })
            .collect()
    }

    fn shed(job: JobId, rendition: &str) -> (JobId, String) {
        (job, rendition.to_string())
    }

    /// The sheds among decisions, without their figures.
    fn sheds(decisions: &[Decision]) -> Vec<(JobId, String)> {
        decisions
            .iter()
            .filter_map(|d| match d {
                Decision::Shed { job, rendition, .. } => Some((*job, rendition.clone())),
                _ => None,
            })
            .collect()
    }

    /// A live reader `behind` seconds late, from a child that does not report its waiting.
    fn late(behind: f64) -> ReaderFigures {
        ReaderFigures { behind: Some(behind), wait: None }
    }

    const POLICY: OverloadPolicy = OverloadPolicy { after: Duration::from_secs(10), recover: Duration::from_secs(30) };

    fn plan(ladder: &[Rendition], shed: &[&str], m: &[RenditionStats]) -> Vec<String> {
        let shed: HashSet<String> = shed.iter().map(|s| s.to_string()).collect();
        proportional_shed(ladder, &shed, m).renditions.into_iter().map(|(l, _)| l).collect()
    }

    #[test]
    fn the_deficit_decides_how_much_goes_most_expensive_first() {
        // Total 0.80 cores. At 0.55x the encoding must come down to 0.55/1.1 = half: 0.40,
        // which 720p's 0.40 covers alone.
        assert_eq!(plan(&ladder(), &[], &measured(&ALL, 0.55, 1.0)), ["1280x720-30"]);
        let p = proportional_shed(&ladder(), &HashSet::new(), &measured(&ALL, 0.55, 1.0));
        assert!((p.renditions[0].1 - 0.5).abs() < 1e-9 && (p.speed - 0.55).abs() < 1e-9, "{p:?}");
        // At 0.3x, 73 % must go: 720p and 480p (75 %).
        assert_eq!(plan(&ladder(), &[], &measured(&ALL, 0.3, 1.0)), ["1280x720-30", "854x480-30"]);
        // At 0.1x, everything that may go goes: never the smallest.
        assert_eq!(plan(&ladder(), &[], &measured(&ALL, 0.1, 1.0)), ["1280x720-30", "854x480-30", "640x360-30"]);
        // A small deficit still sheds one, the most expensive.
        assert_eq!(plan(&ladder(), &[], &measured(&ALL, 0.95, 1.0)), ["1280x720-30"]);
        // What was shed before neither counts nor goes again: of 0.40 left, at 0.5x 55 % goes.
        let left = ["854x480-30", "640x360-30", "426x240-30"];
        assert_eq!(plan(&ladder(), &["1280x720-30"], &measured(&left, 0.5, 1.0)), ["854x480-30", "640x360-30"]);
    }

    #[test]
    fn measured_cost_beats_pixels_and_original_never_goes() {
        // The 480p thread measured more than the 720p one (a costlier preset, or a machine
        // where it got less help): it is the most expensive, so it goes first.
        let mut m = measured(&ALL, 0.9, 1.0);
        m[1].cpu = 0.6;
        assert_eq!(plan(&ladder(), &[], &m), ["854x480-30"]);
        // Without measurements (an older child), encoded pixels per second stand in.
        let mut m = measured(&ALL, 0.9, 1.0);
        m[2].cpu = 0.0;
        assert_eq!(plan(&ladder(), &[], &m), ["1280x720-30"]);
        // ORIGINAL is never shed, however much it costs.
        let mut with_original = ladder();
        with_original[0].original = true;
        assert_eq!(plan(&with_original, &[], &measured(&ALL, 0.1, 1.0)), ["854x480-30", "640x360-30"]);
        // One rendition, or only ORIGINAL and the smallest left: nothing.
        assert!(plan(&ladder()[3..], &[], &measured(&ALL[3..], 0.1, 1.0)).is_empty());
        let kept = ["1280x720-30", "426x240-30"];
        assert!(plan(&with_original, &["854x480-30", "640x360-30"], &measured(&kept, 0.1, 1.0)).is_empty());
    }

    #[test]
    fn a_slow_source_is_not_overload() {
        let mut g = Governor::new(POLICY);
        let t0 = Instant::now();
        g.started(1, &ladder());
        for s in 0..30 {
            // Speed 0.3 but the threads wait for input most of the time.
            let out = g.stats(t0 + Duration::from_secs(2 * s), 1, &measured(&ALL, 0.3, 0.2), ReaderFigures::default());
            assert!(out.is_empty(), "{out:?}");
        }
        assert!(!g.is_overloaded());
    }

    #[test]
    fn every_job_behind_sheds_its_own_share_at_once_and_re_measures_before_shedding_more() {
        let mut g = Governor::new(POLICY);
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        for job in 1..=3 {
            g.started(job, &ladder());
        }
        // Jobs 1 and 2 are behind (0.55x and 0.3x); job 3 keeps up.
        let round = |t: u64, g: &mut Governor, speeds: [f64; 3]| -> Vec<Decision> {
            let mut out = Vec::new();
            for (job, speed) in (1..=3).zip(speeds) {
                let busy = if speed < 1.0 { 1.0 } else { 0.7 };
                out.extend(g.stats(at(t), job, &measured(&ALL, speed, busy), ReaderFigures::default()));
            }
            out
        };
        assert!(round(0, &mut g, [0.55, 0.3, 1.0]).is_empty());
        assert_eq!(round(4, &mut g, [0.55, 0.3, 1.0]), [Decision::Overloaded(true)], "capacity 0 after CONFIRM");
        assert!(round(8, &mut g, [0.55, 0.3, 1.0]).is_empty());
        // One period behind: each job sheds what its own deficit needs, at once.
        let out = round(10, &mut g, [0.55, 0.3, 1.0]);
        assert_eq!(sheds(&out), [shed(1, "1280x720-30"), shed(2, "1280x720-30"), shed(2, "854x480-30")]);
        // Until the child says the sheds happened, and a whole window after that, the
        // windows still hold the slow time before: no verdict, no more shedding.
        let left1 = ["854x480-30", "640x360-30", "426x240-30"];
        let left2 = ["640x360-30", "426x240-30"];
        for t in [12, 14] {
            assert!(g.stats(at(t), 1, &measured(&left1, 0.7, 1.0), ReaderFigures::default()).is_empty());
            assert!(g.stats(at(t), 2, &measured(&left2, 0.6, 1.0), ReaderFigures::default()).is_empty());
        }
        g.took_effect(at(13), 1, "1280x720-30");
        g.took_effect(at(13), 2, "1280x720-30");
        g.took_effect(at(14), 2, "854x480-30");
        for t in [16, 20, 22] {
            assert!(g.stats(at(t), 1, &measured(&left1, 0.7, 1.0), ReaderFigures::default()).is_empty());
            assert!(g.stats(at(t), 2, &measured(&left2, 0.6, 1.0), ReaderFigures::default()).is_empty());
        }
        // A clean window: job 1 keeps up now; job 2 is still behind and sheds again at once.
        assert!(g.stats(at(24), 1, &measured(&left1, 1.15, 0.95), ReaderFigures::default()).is_empty());
        assert_eq!(
            sheds(&g.stats(at(24), 2, &measured(&left2, 0.8, 1.0), ReaderFigures::default())),
            [shed(2, "640x360-30")]
        );
        g.took_effect(at(26), 2, "640x360-30");
        assert!(g.stats(at(36), 2, &measured(&ALL[3..], 1.2, 0.9), ReaderFigures::default()).is_empty());
        assert!(g.is_overloaded(), "capacity comes back only after the recovery time");
        assert_eq!(
            g.stats(at(66), 2, &measured(&ALL[3..], 1.0, 0.6), ReaderFigures::default()),
            [Decision::Overloaded(false)]
        );
        let mut shed_of_2 = g.shed_of(2);
        shed_of_2.sort();
        assert_eq!(shed_of_2, ["1280x720-30", "640x360-30", "854x480-30"], "shed stays shed");
        assert!(g.shed_of(3).is_empty());
        // Behind again with nothing left to shed: said once.
        assert!(g.stats(at(70), 2, &measured(&ALL[3..], 0.5, 1.0), ReaderFigures::default()).is_empty());
        assert_eq!(
            g.stats(at(80), 2, &measured(&ALL[3..], 0.5, 1.0), ReaderFigures::default()),
            [Decision::Overloaded(true), Decision::NothingToShed { job: 2 }]
        );
        assert!(g.stats(at(90), 2, &measured(&ALL[3..], 0.5, 1.0), ReaderFigures::default()).is_empty(), "said once");
    }

    #[test]
    fn a_shed_the_child_never_reports_settles_after_a_period_and_a_window() {
        let mut g = Governor::new(POLICY);
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        g.started(1, &ladder());
        g.stats(at(0), 1, &measured(&ALL, 0.8, 1.0), ReaderFigures::default());
        assert_eq!(
            sheds(&g.stats(at(10), 1, &measured(&ALL, 0.8, 1.0), ReaderFigures::default())),
            [shed(1, "1280x720-30")]
        );
        let left = &ALL[1..];
        assert!(sheds(&g.stats(at(28), 1, &measured(left, 0.8, 1.0), ReaderFigures::default())).is_empty());
        assert_eq!(
            sheds(&g.stats(at(30), 1, &measured(left, 0.8, 1.0), ReaderFigures::default())),
            [shed(1, "854x480-30")]
        );
    }

    /// Figures a worker logged (`stats`, debug) for the four-rung 720p job of the worker
    /// overload test on a 2-core machine at load 12: the job ran at a fifth of real time, yet
    /// the busiest thread was busy only 88-94 % of the window, because the reader and the
    /// encoders starved in turn and each left the others waiting now and then.
    fn starved(busy_720p: f64) -> Vec<RenditionStats> {
        let figures = [(0.12, busy_720p, 0.23), (0.13, 0.44, 0.15), (0.15, 0.30, 0.08), (0.13, 0.14, 0.04)];
        ALL.iter()
            .zip(figures)
            .map(|(label, (speed, busy, cpu))| RenditionStats {
                rendition: label.to_string(),
                speed,
                busy,
                cpu,
                lag_seconds: 1.5,
                encoded: 8,
                dropped: 0,
                duplicated: 0,
            })
            .collect()
    }

    #[test]
    fn a_job_on_a_starved_machine_is_behind_when_its_input_queues_up_whatever_its_threads_do() {
        // Without the reader's waiting share, the busy rule flaps around 90 % and a job a
        // little behind reads its packets late too slowly to cross the lateness line: no
        // verdict lasts long enough to confirm, the worker keeps taking work.
        let mut g = Governor::new(POLICY);
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        g.started(1, &ladder());
        for s in (0..30).step_by(2) {
            let busy = if s % 4 == 0 { 0.88 } else { 0.93 };
            let out = g.stats(at(s), 1, &starved(busy), late(0.1 * s as f64));
            assert!(!out.contains(&Decision::Overloaded(true)), "{s}: {out:?}");
        }
        // The reader hardly waited for its source: its input was queued up. Behind on every
        // sample, so capacity 0 after CONFIRM, and the shed after one period.
        let mut g = Governor::new(POLICY);
        g.started(1, &ladder());
        let queued = ReaderFigures { behind: Some(0.6), wait: Some(0.02) };
        assert!(g.stats(at(0), 1, &starved(0.88), queued).is_empty());
        assert!(g.stats(at(2), 1, &starved(0.93), queued).is_empty());
        assert_eq!(g.stats(at(4), 1, &starved(0.88), queued), [Decision::Overloaded(true)]);
        assert!(g.stats(at(8), 1, &starved(0.93), queued).is_empty());
        let out = g.stats(at(10), 1, &starved(0.88), queued);
        assert_eq!(sheds(&out), [shed(1, "1280x720-30"), shed(1, "854x480-30"), shed(1, "640x360-30")]);
    }

    #[test]
    fn a_slow_publisher_is_waited_for_and_sheds_nothing_however_late_its_packets() {
        let mut g = Governor::new(POLICY);
        let t0 = Instant::now();
        g.started(1, &ladder());
        for s in 0..30 {
            // The publisher sends 0.8 s of media per second: packets ever later, the reader
            // waiting for each, the encoders idle most of the time.
            let input = ReaderFigures { behind: Some(0.4 * s as f64), wait: Some(0.85) };
            let out = g.stats(t0 + Duration::from_secs(2 * s), 1, &measured(&ALL, 0.8, 0.3), input);
            assert!(out.is_empty(), "{s}: {out:?}");
        }
    }

    #[test]
    fn a_reader_held_back_is_behind_until_the_job_works_off_its_backlog() {
        let mut g = Governor::new(POLICY);
        let t0 = Instant::now();
        g.started(1, &ladder());
        // The decoder is starved: renditions idle, but packets are read 5 s late.
        assert!(g.stats(t0, 1, &measured(&ALL, 0.6, 0.3), late(5.0)).is_empty());
        assert_eq!(g.stats(t0 + CONFIRM, 1, &measured(&ALL, 0.6, 0.3), late(6.0)), [Decision::Overloaded(true)]);
        // Still 5 s late, but encoding faster than real time: catching up, not behind.
        assert!(g.stats(t0 + CONFIRM * 2, 1, &measured(&ALL, 1.3, 0.95), late(5.0)).is_empty());
        assert!(g.jobs[&1].behind_since.is_none());
        // Read on time again: not behind.
        assert!(g.stats(t0 + CONFIRM * 3, 1, &measured(&ALL, 0.6, 0.3), late(0.4)).is_empty());
    }

    #[test]
    fn a_closed_job_no_longer_holds_the_worker_overloaded() {
        let mut g = Governor::new(POLICY);
        let t0 = Instant::now();
        g.started(1, &ladder());
        g.stats(t0, 1, &measured(&ALL, 0.5, 1.0), ReaderFigures::default());
        assert_eq!(
            g.stats(t0 + CONFIRM, 1, &measured(&ALL, 0.5, 1.0), ReaderFigures::default()),
            [Decision::Overloaded(true)]
        );
        assert!(g.gone(t0 + CONFIRM, 1).is_empty());
        assert_eq!(g.tick(t0 + CONFIRM + POLICY.recover), [Decision::Overloaded(false)]);
    }
}
