//! The job table (spec §8, §9): every accepted ENCODE-START becomes one entry that lives until
//! its STREAM-CLOSED is sent and its child has exited. All protocol guarantees are decided here,
//! from values only, so they are tested without sockets, processes or clocks.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::time::{Duration, Instant};

use job::{describe, error, CloseError, Job, Phase, RunEnd, Stop};

use super::capacity::Budget;
use super::spec::echoable;
use crate::child_protocol::JobSpec;
use crate::control::message::{EncodeStartRaw, ErrorCode, Outbound};
pub use interface::{Action, Capacity, Input, JobId, TableConfig};

pub(super) mod interface;
mod job;

/// A repeated ENCODE-START within this time of the job's close is a duplicate (guarantee 1).
const DEDUP_WINDOW: Duration = Duration::from_secs(3600);
/// Longest wait ever scheduled, so that a hostile `Grace-Period` cannot overflow `Instant`.
const MAX_WAIT: Duration = Duration::from_secs(365 * 24 * 3600);

fn later(t: Instant, d: Duration) -> Instant {
    t.checked_add(d.min(MAX_WAIT)).unwrap_or(t)
}

#[derive(Debug)]
struct Draining {
    since: Instant,
    /// The shutdown timeout passed and every open job was told to stop.
    expired: bool,
}

/// The worker's jobs. See the module docs of `supervisor` for the adapter contract.
#[derive(Debug)]
pub struct JobTable {
    cfg: TableConfig,
    /// Keyed by acceptance order, so "newer job of the channel" is a range query.
    jobs: BTreeMap<JobId, Job>,
    /// Per channel, STREAM-CLOSEDs of superseded jobs, in the order they were produced.
    held: HashMap<String, Vec<(JobId, Outbound)>>,
    /// (channel, id) of every STREAM-CLOSED of the last hour (guarantee 1).
    recent: HashMap<(String, String), Instant>,
    next_id: JobId,
    /// The capacity last announced, to re-register only on change.
    registered: i32,
    draining: Option<Draining>,
    /// Some job is behind real time: capacity 0, new jobs refused (`overload`).
    overloaded: bool,
    /// `SERVER_CAPACITY=auto`: admission by CPU budget instead of by count.
    budget: Option<Budget>,
    exited: bool,
}

impl JobTable {
    pub fn new(cfg: TableConfig) -> Self {
        let registered = match cfg.capacity {
            Capacity::Jobs(n) => i32::try_from(n).unwrap_or(i32::MAX),
            Capacity::Unlimited => -1,
            // Nothing is admitted until the budget is known (`with_budget`).
            Capacity::Auto => 0,
        };
        JobTable {
            cfg,
            jobs: BTreeMap::new(),
            held: HashMap::new(),
            recent: HashMap::new(),
            next_id: 1,
            registered,
            draining: None,
            overloaded: false,
            budget: None,
            exited: false,
        }
    }

    /// `SERVER_CAPACITY=auto`: admits by this budget instead of by count.
    pub fn with_budget(mut self, budget: Budget) -> Self {
        self.budget = Some(budget);
        self.registered = self.register_capacity();
        self
    }

    /// The budget, when admission is by budget.
    pub fn budget(&self) -> Option<&Budget> {
        self.budget.as_ref()
    }

    /// Applies one input at `now` (timers due by `now` fire first) and returns what to do.
    pub fn handle(&mut self, now: Instant, input: Input) -> Vec<Action> {
        let mut out = Vec::new();
        self.fire_timers(now, &mut out);
        match input {
            Input::EncodeStart(raw) => self.encode_start(now, raw, &mut out),
            Input::EncodeStop { channel, stream_id, grace } => {
                let deadline = later(now, grace.unwrap_or(self.cfg.stop_grace));
                self.encode_stop(now, &channel, &stream_id, deadline, &mut out)
            }
            Input::ChildStarted(id) => {
                if let Some(job) = self.jobs.get_mut(&id).filter(|j| !j.is_closed()) {
                    job.has_output = true;
                }
            }
            Input::IndexAvailable { job, stream_type, resolution, index_file, start_time } => {
                self.index_available(job, stream_type, resolution, index_file, start_time, &mut out)
            }
            Input::ChildFinishing { job, error_code, message, end } => {
                let end = RunEnd { code: error_code, message, end };
                if let Some(j) = self.jobs.get_mut(&job).filter(|j| j.phase == Phase::Running && j.run_end.is_none()) {
                    j.finishing.get_or_insert((later(now, self.cfg.finalize_timeout), end));
                }
            }
            Input::ChildClosed { job, error_code, message, end } => {
                self.child_closed(now, job, RunEnd { code: error_code, message, end }, &mut out)
            }
            Input::ChildExited { job, crashed, stderr_tail } => {
                // A run killed early may have said nothing: the last run that did speaks.
                if let Some(j) = self.jobs.get_mut(&job).filter(|_| !stderr_tail.is_empty()) {
                    j.last_stderr = stderr_tail;
                }
                self.child_exited(now, job, crashed, &mut out)
            }
            Input::Overloaded(overloaded) => {
                if overloaded != self.overloaded {
                    let active = self.active();
                    if overloaded {
                        tracing::warn!(
                            jobs = active,
                            "a job is behind real time: registering capacity 0 until every job keeps up"
                        );
                    } else {
                        tracing::info!(jobs = active, "every job keeps up again: capacity restored");
                    }
                }
                self.overloaded = overloaded;
            }
            Input::LadderChosen { job, ladder } => {
                if let Some(b) = self.budget.as_mut() {
                    let cost = b.model.cost_of_ladder(&ladder);
                    b.revise(job, cost);
                }
            }
            Input::CpuMeasured(jobs) => {
                if let Some(b) = self.budget.as_mut() {
                    let cores: Vec<(JobId, f64)> = jobs.iter().map(|&(j, m)| (j, f64::from(m) / 1000.0)).collect();
                    b.measured(&cores);
                }
            }
            Input::Tick => {}
            Input::Shutdown => self.shutdown(now, &mut out),
        }
        self.reregister(&mut out);
        self.exit_when_done(&mut out);
        out
    }

    /// When `handle(Input::Tick)` has work to do next.
    pub fn next_deadline(&self) -> Option<Instant> {
        let shutdown = self.draining.as_ref().filter(|d| !d.expired).map(|d| later(d.since, self.cfg.shutdown_timeout));
        let jobs = self.jobs.values().flat_map(|job| {
            let phase = match (job.phase, &job.stop, &job.run_end) {
                (Phase::Backoff { at }, _, _) => Some(at),
                (Phase::Running, Some(stop), None) => Some(later(stop.deadline, self.cfg.finalize_timeout)),
                _ => None,
            };
            let live_run = job.phase == Phase::Running && job.run_end.is_none();
            let finishing = job.finishing.as_ref().filter(|_| live_run).map(|(at, _)| *at);
            let phase = phase.into_iter().chain(finishing).min();
            let exit = job.child.as_ref().filter(|c| !c.killed).and_then(|c| c.exit_by);
            phase.into_iter().chain(exit)
        });
        shutdown.into_iter().chain(jobs).min()
    }

    /// Whether the table still tracks `id` (open, or closed with its child still running).
    pub fn contains(&self, id: JobId) -> bool {
        self.jobs.contains_key(&id)
    }

    /// Accepted jobs whose STREAM-CLOSED has not been sent (§8).
    pub fn active(&self) -> usize {
        self.jobs.values().filter(|j| j.phase != Phase::Closed { sent: true }).count()
    }

    /// The `Capacity` of a REGISTER sent now, e.g. on reconnect (§7.2, §8, §9.4).
    pub fn register_capacity(&self) -> i32 {
        if self.draining.is_some() || self.overloaded {
            return 0;
        }
        match self.cfg.capacity {
            Capacity::Unlimited => -1,
            Capacity::Jobs(n) => (i64::from(n) - self.active() as i64).clamp(0, i64::from(i32::MAX)) as i32,
            Capacity::Auto => self.budget.as_ref().map_or(0, Budget::capacity),
        }
    }

    fn encode_start(&mut self, now: Instant, raw: EncodeStartRaw, out: &mut Vec<Action>) {
        self.recent.retain(|_, closed| now.saturating_duration_since(*closed) < DEDUP_WINDOW);
        let key = (raw.channel.clone(), raw.stream_id.clone());
        let running = self.jobs.values().any(|j| j.spec.channel == key.0 && j.spec.stream_id == key.1);
        if running || self.recent.contains_key(&key) {
            tracing::debug!(channel = ?key.0, stream_id = ?key.1, "duplicate ENCODE-START ignored");
            return;
        }
        let spec = match JobSpec::try_from(&raw) {
            Ok(spec) => spec,
            Err(e) => return self.refuse(now, &raw, ErrorCode::BadJob, e.to_string(), out),
        };
        if self.draining.is_some() {
            return self.refuse(now, &raw, ErrorCode::OverCapacity, "worker is shutting down".into(), out);
        }
        if self.overloaded {
            let message = "worker overloaded: a running job is behind real time".to_string();
            return self.refuse(now, &raw, ErrorCode::OverCapacity, message, out);
        }
        match (self.cfg.capacity, self.budget.as_ref()) {
            (Capacity::Auto, Some(b)) => {
                let cost = b.model.cost_of_request(&spec.resolutions);
                if !b.fits(cost) {
                    let need = cost * b.correction();
                    let left = (b.cores - b.used()).max(0.0);
                    let message =
                        format!("worker at capacity: this ladder needs about {need:.2} cores, {left:.2} are left");
                    return self.refuse(now, &raw, ErrorCode::OverCapacity, message, out);
                }
            }
            (Capacity::Auto, None) => {
                let message = "worker at capacity: its CPU budget is not measured yet".to_string();
                return self.refuse(now, &raw, ErrorCode::OverCapacity, message, out);
            }
            (Capacity::Jobs(n), _) if self.active() >= n as usize => {
                let message = format!("worker at capacity ({n} jobs)");
                return self.refuse(now, &raw, ErrorCode::OverCapacity, message, out);
            }
            (Capacity::Jobs(_) | Capacity::Unlimited, _) => {}
        }
        let id = self.next_id;
        self.next_id += 1;
        tracing::info!(job = id, channel = %spec.channel, stream_id = %spec.stream_id,
            source = %crate::redact::redact_url(&spec.source_uri), "job accepted");
        if let Some(b) = self.budget.as_mut() {
            b.admit(id, b.model.cost_of_request(&spec.resolutions));
        }
        out.push(Action::Spawn { job: id, spec: spec.clone(), restart: 0 });
        self.jobs.insert(id, Job::new(spec));
    }

    /// Guarantee 2 for a job that never ran; an id that cannot be echoed gets an ERROR instead.
    fn refuse(&mut self, now: Instant, raw: &EncodeStartRaw, code: ErrorCode, message: String, out: &mut Vec<Action>) {
        tracing::warn!(channel = ?raw.channel, stream_id = ?raw.stream_id, %code, %message, "ENCODE-START refused");
        if echoable(&raw.channel) && echoable(&raw.stream_id) {
            self.recent.insert((raw.channel.clone(), raw.stream_id.clone()), now);
            let (channel, stream_id) = (raw.channel.clone(), raw.stream_id.clone());
            out.push(Action::Send(Outbound::StreamClosed { channel, stream_id, error: Some((code, message)) }));
        } else {
            out.push(Action::Send(Outbound::Error { code, message: format!("ENCODE-START refused: {message}") }));
        }
    }

    fn encode_stop(&mut self, now: Instant, channel: &str, stream_id: &str, deadline: Instant, out: &mut Vec<Action>) {
        let matching: Vec<JobId> = (self.jobs.iter())
            .filter(|(_, j)| !j.is_closed() && j.spec.channel == channel)
            .filter(|(_, j)| stream_id.is_empty() || j.spec.stream_id == stream_id)
            .map(|(id, _)| *id)
            .collect();
        if matching.is_empty() {
            tracing::debug!(?channel, ?stream_id, "ENCODE-STOP matches no job");
        }
        for id in matching {
            self.stop(now, id, deadline, None, out);
        }
    }

    /// §4 ENCODE-STOP semantics, also used by the shutdown timeout with `code: SHUTDOWN`.
    fn stop(&mut self, now: Instant, id: JobId, deadline: Instant, code: Option<ErrorCode>, out: &mut Vec<Action>) {
        let Some(job) = self.jobs.get_mut(&id) else { return };
        let stopped_error = code.and_then(|c| error(c, describe(c)));
        match job.phase {
            Phase::Closed { .. } => {}
            Phase::Backoff { .. } => self.close(now, id, stopped_error, out),
            Phase::Running if job.run_end.is_some() => {
                let error = job.run_end.as_ref().and_then(|end| end.close_error(job.stop.as_ref()));
                self.close(now, id, error, out)
            }
            Phase::Running if !job.has_output => {
                job.kill(id, out);
                self.close(now, id, stopped_error, out)
            }
            Phase::Running => match &mut job.stop {
                Some(stop) if stop.deadline <= deadline => {}
                Some(stop) => {
                    stop.deadline = deadline;
                    stop.code = code.or(stop.code);
                    out.push(Action::StopGracefully { job: id, deadline });
                }
                None => {
                    job.stop = Some(Stop { deadline, code });
                    out.push(Action::StopGracefully { job: id, deadline });
                }
            },
        }
    }

    fn index_available(
        &mut self,
        id: JobId,
        stream_type: String,
        resolution: String,
        index_file: String,
        start_time: Option<String>,
        out: &mut Vec<Action>,
    ) {
        let Some(job) = self.jobs.get_mut(&id) else { return };
        let (channel, stream_id) = (job.spec.channel.clone(), job.spec.stream_id.clone());
        if job.is_closed() {
            tracing::warn!(%channel, %stream_id, %index_file, "announcement after STREAM-CLOSED dropped");
        } else if !job.owns(&index_file) {
            tracing::error!(%channel, %stream_id, %index_file, "index outside the stream's directories dropped");
        } else if job.announced.insert(index_file.clone()) {
            job.has_output = true;
            let msg = Outbound::StreamAvailable { channel, stream_id, stream_type, resolution, index_file, start_time };
            out.push(Action::Send(msg));
        }
    }

    fn child_closed(&mut self, now: Instant, id: JobId, end: RunEnd, out: &mut Vec<Action>) {
        let Some(job) = self.jobs.get_mut(&id) else { return };
        if job.phase != Phase::Running || job.run_end.is_some() {
            return;
        }
        // The run's end is known now: a `finishing` deadline has nothing left to decide.
        job.finishing = None;
        let Some(child) = job.child.as_mut() else { return };
        child.exit_by = Some(later(now, self.cfg.finalize_timeout));
        if job.stop.is_none() && end.is_restartable() {
            tracing::warn!(channel = %job.spec.channel, stream_id = %job.spec.stream_id, message = ?end.message,
                "pipeline failed; restarting once the child exits");
            job.run_end = Some(end);
        } else {
            let error = end.close_error(job.stop.as_ref());
            job.run_end = Some(end);
            self.close(now, id, error, out);
        }
    }

    fn child_exited(&mut self, now: Instant, id: JobId, crashed: bool, out: &mut Vec<Action>) {
        let Some(job) = self.jobs.get_mut(&id) else { return };
        // Gone during its final writes: the end it reported with `finishing` stands.
        if job.phase == Phase::Running && job.run_end.is_none() {
            if let Some((_, end)) = job.finishing.take() {
                self.child_closed(now, id, end, out);
            }
        }
        let Some(job) = self.jobs.get_mut(&id) else { return };
        job.finishing = None;
        if job.child.take().is_none() {
            return;
        }
        match job.phase {
            Phase::Closed { sent: true } => {
                self.jobs.remove(&id);
            }
            Phase::Closed { sent: false } | Phase::Backoff { .. } => {}
            Phase::Running if job.run_end.is_some() => self.restart_or_fail(now, id, out),
            Phase::Running => {
                tracing::warn!(channel = %job.spec.channel, stream_id = %job.spec.stream_id, crashed,
                    "transcode exited without reporting its end");
                match job.stop.as_ref().map(|s| s.code.unwrap_or(ErrorCode::PipelineFailed)) {
                    None => self.restart_or_fail(now, id, out),
                    Some(code) => self.close(now, id, error(code, "transcode exited before finishing"), out),
                }
            }
        }
    }

    /// §9.3: after 1 s, 2 s, 4 s, … at most `restart_max` restarts in any 10 minutes.
    fn restart_or_fail(&mut self, now: Instant, id: JobId, out: &mut Vec<Action>) {
        let Some(job) = self.jobs.get_mut(&id) else { return };
        let delay = match job.restart_delay(now, self.cfg.restart_max) {
            Ok(delay) => delay,
            Err(recent) => {
                let message = job.failure_message(recent);
                return self.close(now, id, error(ErrorCode::PipelineFailed, message), out);
            }
        };
        tracing::warn!(channel = %job.spec.channel, stream_id = %job.spec.stream_id, ?delay, "pipeline restart scheduled");
        job.run_end = None;
        job.phase = Phase::Backoff { at: later(now, delay) };
    }

    /// Produces the job's one STREAM-CLOSED: sent now, or held while a newer job of the same
    /// channel is open, since the coordinator would kill that newer broadcast (guarantee 5).
    fn close(&mut self, now: Instant, id: JobId, error: CloseError, out: &mut Vec<Action>) {
        let Some(job) = self.jobs.get_mut(&id).filter(|j| !j.is_closed()) else { return };
        job.phase = Phase::Closed { sent: false };
        if let Some(b) = self.budget.as_mut() {
            b.release(id);
        }
        if let Some(child) = job.child.as_mut().filter(|c| c.exit_by.is_none()) {
            child.exit_by = Some(later(now, self.cfg.finalize_timeout));
        }
        let (channel, stream_id) = (job.spec.channel.clone(), job.spec.stream_id.clone());
        tracing::info!(job = id, %channel, %stream_id, error = ?error, "stream closed");
        self.recent.insert((channel.clone(), stream_id.clone()), now);
        let msg = Outbound::StreamClosed { channel: channel.clone(), stream_id, error };
        let newer = (self.jobs.range((Bound::Excluded(id), Bound::Unbounded)))
            .any(|(_, j)| j.spec.channel == channel && !j.is_closed());
        if newer {
            tracing::info!(job = id, %channel, "STREAM-CLOSED held until the newer stream of the channel closes");
            self.held.entry(channel).or_default().push((id, msg));
            return;
        }
        for (older, held) in self.held.remove(&channel).unwrap_or_default() {
            self.send_close(older, held, out);
        }
        self.send_close(id, msg, out);
    }

    fn send_close(&mut self, id: JobId, msg: Outbound, out: &mut Vec<Action>) {
        out.push(Action::Send(msg));
        if let Some(job) = self.jobs.get_mut(&id) {
            job.phase = Phase::Closed { sent: true };
            if job.child.is_none() {
                self.jobs.remove(&id);
            }
        }
    }

    fn fire_timers(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.expire_shutdown(now, out);
        let ids: Vec<JobId> = self.jobs.keys().copied().collect();
        for id in ids {
            let Some(job) = self.jobs.get_mut(&id) else { continue };
            match (job.phase, &job.stop, &job.run_end) {
                (Phase::Backoff { at }, _, _) if at <= now => {
                    let restart = job.respawn(now);
                    out.push(Action::Spawn { job: id, spec: job.spec.clone(), restart });
                }
                (Phase::Running, Some(stop), None) if later(stop.deadline, self.cfg.finalize_timeout) <= now => {
                    let code = stop.code.unwrap_or(ErrorCode::PipelineFailed);
                    tracing::error!(channel = %job.spec.channel, stream_id = %job.spec.stream_id,
                        "transcode did not finish within the finalize timeout; killed");
                    job.kill(id, out);
                    self.close(now, id, error(code, "transcode did not finish within the finalize timeout"), out);
                }
                _ => {}
            }
            let Some(job) = self.jobs.get_mut(&id) else { continue };
            let finished = job.phase == Phase::Running && job.run_end.is_none();
            if finished && job.finishing.as_ref().is_some_and(|(at, _)| *at <= now) {
                let (_, end) = job.finishing.take().expect("checked");
                tracing::warn!(channel = %job.spec.channel, stream_id = %job.spec.stream_id,
                    "final writes still pending after the finalize timeout; closing the stream without them");
                self.child_closed(now, id, end, out);
            }
            let Some(job) = self.jobs.get_mut(&id) else { continue };
            if job.child.as_ref().is_some_and(|c| !c.killed && c.exit_by.is_some_and(|t| t <= now)) {
                tracing::warn!(channel = %job.spec.channel, stream_id = %job.spec.stream_id, "transcode did not exit; killed");
                job.kill(id, out);
            }
        }
    }

    fn shutdown(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.draining.is_none() {
            tracing::info!(jobs = self.active(), timeout = ?self.cfg.shutdown_timeout, "shutting down");
            self.draining = Some(Draining { since: now, expired: false });
            self.registered = 0;
            out.push(Action::Register { capacity: 0 });
            return self.expire_shutdown(now, out);
        }
        tracing::warn!("second shutdown request: killing every job");
        let ids: Vec<JobId> = self.jobs.keys().copied().collect();
        for id in ids {
            if let Some(job) = self.jobs.get_mut(&id) {
                job.kill(id, out);
            }
            self.close(now, id, error(ErrorCode::Shutdown, "worker killed"), out);
        }
    }

    /// §9.4 step 2: past the shutdown timeout every open job stops as with grace 0.
    fn expire_shutdown(&mut self, now: Instant, out: &mut Vec<Action>) {
        let Some(draining) = self.draining.as_mut() else { return };
        if draining.expired || later(draining.since, self.cfg.shutdown_timeout) > now {
            return;
        }
        draining.expired = true;
        let open: Vec<JobId> = self.jobs.iter().filter(|(_, j)| !j.is_closed()).map(|(id, _)| *id).collect();
        if !open.is_empty() {
            tracing::warn!(jobs = open.len(), "shutdown timeout: stopping the remaining jobs");
        }
        for id in open {
            self.stop(now, id, now, Some(ErrorCode::Shutdown), out);
        }
    }

    /// §8 repair: only with a finite capacity, only on change, never while draining.
    fn reregister(&mut self, out: &mut Vec<Action>) {
        // Unlimited capacity is re-registered only to say 0 while overloaded, and -1 after.
        let unlimited = self.cfg.capacity == Capacity::Unlimited;
        if self.draining.is_some() || (unlimited && !self.overloaded && self.registered < 0) {
            return;
        }
        let capacity = self.register_capacity();
        if capacity != self.registered {
            self.registered = capacity;
            out.push(Action::Register { capacity });
        }
    }

    fn exit_when_done(&mut self, out: &mut Vec<Action>) {
        let done = |j: &Job| j.is_closed() && j.child.as_ref().is_none_or(|c| c.killed);
        if self.exited || self.draining.is_none() || !self.jobs.values().all(done) {
            return;
        }
        // Every newer job is closed, so nothing should be held; flush anyway rather than lose one.
        let mut held: Vec<(JobId, Outbound)> = self.held.drain().flat_map(|(_, list)| list).collect();
        held.sort_by_key(|(id, _)| *id);
        for (id, msg) in held {
            self.send_close(id, msg, out);
        }
        self.exited = true;
        out.push(Action::Exit);
    }
}

#[cfg(test)]
mod invariants;
#[cfg(test)]
mod scenarios;
#[cfg(test)]
mod tests;
