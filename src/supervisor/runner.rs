//! The supervisor's event loop: coordinator commands, child reports, timers and shutdown
//! requests go into the [`JobTable`]; its actions go to the control session (messages,
//! REGISTER) and to the child adapter (spawn, stop, kill). Decisions stay in the table; this
//! loop only moves values and keeps each job's [`Mirror`] and [`Liveness`].

use std::collections::{HashMap, VecDeque};
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use super::capacity::Budget;
use super::child::{self, ChildHandle, ChildReport};
use super::handover::Mirror;
use super::janitor::{CleanupConfig, Janitor};
use super::overload::{Decision, Governor, OverloadPolicy, ReaderFigures};
use super::stall::{Liveness, StallPolicy};
use super::table::{Action, Input, JobId, JobTable, TableConfig};
use crate::child_protocol::{ChildJob, Event, JobDefaults};
use crate::control::message::{Inbound, Outbound};
use crate::metrics::{procfs, LoopHealth, Metrics, StreamLabels};

/// Child reports waiting for the loop; a full queue slows the children's pipes, never drops.
const REPORT_QUEUE: usize = 256;
/// The window over which jobs' CPU is measured to correct the capacity model.
const CPU_WINDOW: Duration = Duration::from_secs(10);
/// How often running children are checked for stalls.
const STALL_CHECK: Duration = Duration::from_secs(1);

/// How children are started.
#[derive(Debug, Clone)]
pub struct ChildConfig {
    /// This binary: each job runs its `transcode` subcommand.
    pub exe: PathBuf,
    /// Words before `exe` on each child's command line (`HLS_TRANSCODE_WRAPPER`); empty: `exe`
    /// is the program.
    pub wrapper: Vec<String>,
    /// The validated settings every job's document carries.
    pub defaults: JobDefaults,
    pub stall: StallPolicy,
}

impl ChildConfig {
    /// The program to start for a child and its first arguments, before `transcode`.
    pub fn program(&self) -> (OsString, Vec<OsString>) {
        command_line(&self.wrapper, &self.exe)
    }
}

/// `exe`, or the wrapper's program with its words and then `exe` as arguments.
fn command_line(wrapper: &[String], exe: &std::path::Path) -> (OsString, Vec<OsString>) {
    match wrapper.split_first() {
        None => (exe.into(), Vec::new()),
        Some((program, args)) => (program.into(), args.iter().map(OsString::from).chain([exe.into()]).collect()),
    }
}

/// What the supervisor runs with (from `config::WorkerConfig`).
pub struct SupervisorSettings {
    pub table: TableConfig,
    pub children: ChildConfig,
    /// End-of-stream cleanup, when `HLS_CLEANUP_AFTER_END=YES`.
    pub cleanup: Option<CleanupConfig>,
    pub overload: OverloadPolicy,
    /// `SERVER_CAPACITY=auto`: the measured budget jobs are admitted by.
    pub budget: Option<Budget>,
}

/// A job's adapter-side state across its runs.
struct JobIo {
    mirror: Mirror,
    run: Option<Run>,
    /// The job's per-stream metric labels.
    labels: StreamLabels,
    /// Its STREAM-CLOSED was sent: its series are gone and must not come back.
    closed: bool,
    spec: crate::child_protocol::JobSpec,
}

/// The current child of a job.
struct Run {
    handle: ChildHandle,
    liveness: Liveness,
    /// Killed on purpose (stall, or the table's order): its exit is expected, not news.
    killed: bool,
    /// CPU seconds of this child already counted.
    cpu_counted: f64,
    /// When this run started, and its CPU seconds since the last budget correction.
    started: Instant,
    cpu_window: f64,
}

pub struct Supervisor {
    table: JobTable,
    children: ChildConfig,
    jobs: HashMap<JobId, JobIo>,
    reports_tx: mpsc::Sender<ChildReport>,
    reports: mpsc::Receiver<ChildReport>,
    /// STREAM-AVAILABLE / STREAM-CLOSED / ERROR, in production order, to the session's queue.
    outbound: mpsc::Sender<Outbound>,
    /// The capacity the session registers, now and on every reconnect.
    capacity: watch::Sender<i32>,
    /// Inputs produced while executing actions (a spawn that failed at once).
    pending: VecDeque<Input>,
    exited: bool,
    metrics: Arc<Metrics>,
    health: Arc<LoopHealth>,
    /// End-of-stream cleanup, when `HLS_CLEANUP_AFTER_END=YES`.
    janitor: Option<Janitor>,
    /// When the first shutdown request came, and the drain time it allows.
    shutdown: (Option<Instant>, Duration),
    /// Which jobs are behind real time, and what to shed.
    governor: Governor,
    /// Start of the current CPU measurement window (`SERVER_CAPACITY=auto`).
    cpu_window_start: Instant,
}

impl Supervisor {
    pub fn new(
        settings: SupervisorSettings,
        outbound: mpsc::Sender<Outbound>,
        capacity: watch::Sender<i32>,
        metrics: Arc<Metrics>,
        health: Arc<LoopHealth>,
    ) -> Self {
        let SupervisorSettings { table, children, cleanup, overload, budget } = settings;
        let shutdown = (None, table.shutdown_timeout);
        let janitor = cleanup.map(|c| Janitor::new(c, metrics.clone()));
        let table = match budget {
            Some(budget) => JobTable::new(table).with_budget(budget),
            None => JobTable::new(table),
        };
        capacity.send_replace(table.register_capacity());
        metrics.capacity.set(table.register_capacity() as i64);
        if let Some(b) = table.budget() {
            metrics.capacity_model(b.cores, b.used(), b.unit * b.correction(), b.correction());
        }
        let (reports_tx, reports) = mpsc::channel(REPORT_QUEUE);
        Supervisor {
            table,
            children,
            jobs: HashMap::new(),
            reports_tx,
            reports,
            outbound,
            capacity,
            pending: VecDeque::new(),
            exited: false,
            metrics,
            health,
            janitor,
            shutdown,
            governor: Governor::new(overload),
            cpu_window_start: Instant::now(),
        }
    }

    /// Runs until shutdown completes: every job closed and its STREAM-CLOSED handed to the
    /// session. Each message on `shutdown` is one SIGTERM/SIGINT (the second kills every job).
    pub async fn run(&mut self, mut inbound: mpsc::Receiver<Inbound>, mut shutdown: mpsc::Receiver<()>) {
        let mut stall_check = tokio::time::interval(STALL_CHECK);
        stall_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut inbound_open = true;
        let mut shutdown_open = true;
        while !self.exited {
            self.health.turned();
            let deadline = self.table.next_deadline();
            let timer = sleep_until(deadline);
            let cleanup_due = sleep_until(self.janitor.as_ref().and_then(Janitor::next_due));
            tokio::select! {
                msg = inbound.recv(), if inbound_open => match msg {
                    Some(msg) => if let Some(input) = Input::from_inbound(msg) {
                        self.handle(input).await;
                    },
                    None => inbound_open = false,
                },
                Some(report) = self.reports.recv() => self.on_report(report).await,
                () = timer => self.handle(Input::Tick).await,
                () = cleanup_due => {
                    if let Some(janitor) = self.janitor.as_mut() {
                        janitor.run_due();
                    }
                }
                _ = stall_check.tick() => {
                    self.kill_stalled();
                    self.measure_children();
                    self.correct_budget().await;
                    let decisions = self.governor.tick(Instant::now());
                    self.execute_overload(decisions).await;
                }
                signal = shutdown.recv(), if shutdown_open => match signal {
                    Some(()) => self.handle(Input::Shutdown).await,
                    // Nobody can ask for shutdown any more: shut down now rather than never.
                    None => {
                        shutdown_open = false;
                        self.handle(Input::Shutdown).await;
                    }
                },
            }
        }
        if let Some(janitor) = self.janitor.take() {
            let (since, allowed) = self.shutdown;
            janitor.finish(since.unwrap_or_else(Instant::now) + allowed).await;
        }
    }

    async fn handle(&mut self, input: Input) {
        if input == Input::Shutdown {
            self.health.shutting_down();
            self.shutdown.0.get_or_insert_with(Instant::now);
        }
        self.pending.push_back(input);
        while let Some(input) = self.pending.pop_front() {
            let actions = self.table.handle(Instant::now(), input);
            for action in actions {
                self.execute(action).await;
            }
        }
        self.metrics.jobs_running.set(self.table.active() as i64);
        // The table forgets a job once it is closed and its child gone; so does the adapter.
        let table = &self.table;
        let gone: Vec<JobId> = self.jobs.keys().filter(|id| !table.contains(**id)).copied().collect();
        self.jobs.retain(|id, _| table.contains(*id));
        for job in gone {
            let decisions = self.governor.gone(Instant::now(), job);
            Box::pin(self.execute_overload(decisions)).await;
        }
    }

    /// Carries out the governor's decisions: shed requests to children, the table's
    /// overloaded state (capacity 0), logs and metrics.
    async fn execute_overload(&mut self, decisions: Vec<Decision>) {
        for decision in decisions {
            match decision {
                Decision::Shed { job, rendition, speed, share } => {
                    let Some(io) = self.jobs.get_mut(&job) else { continue };
                    let (channel, stream_id) = (&io.labels.channel, &io.labels.stream_id);
                    let (speed, share) = (format!("{speed:.2}"), format!("{:.0}%", share * 100.0));
                    tracing::error!(job, %channel, %stream_id, %rendition, speed, cost_share = share,
                        "overload: job behind real time; shedding this rendition (its playlist ends, the master drops it)");
                    self.metrics.renditions_shed.inc();
                    if let Some(run) = io.run.as_ref() {
                        run.handle.shed(&rendition);
                    }
                }
                Decision::NothingToShed { job } => {
                    let labels = self.jobs.get(&job).map(|io| io.labels.clone());
                    let (channel, stream_id) =
                        labels.map_or((String::new(), String::new()), |l| (l.channel, l.stream_id));
                    tracing::error!(job, %channel, %stream_id,
                        "overload: this job is behind real time and nothing is left to shed; it keeps running behind");
                }
                Decision::Overloaded(overloaded) => {
                    self.metrics.overloaded.set(i64::from(overloaded));
                    Box::pin(self.handle(Input::Overloaded(overloaded))).await;
                }
            }
        }
    }

    async fn execute(&mut self, action: Action) {
        match action {
            Action::Send(msg) => {
                if let Outbound::StreamClosed { channel, stream_id, error } = &msg {
                    let labels = StreamLabels { channel: channel.clone(), stream_id: stream_id.clone() };
                    self.metrics.stream_closed(&labels, error.as_ref().map(|(code, _)| code.as_str()));
                    for io in self.jobs.values_mut().filter(|io| io.labels == labels && !io.closed) {
                        io.closed = true;
                        if let Some(janitor) = self.janitor.as_mut() {
                            janitor.schedule(channel, stream_id, super::cleanup::leftovers(&io.spec, &io.mirror));
                        }
                    }
                }
                // The session takes messages even while disconnected, so this waits only on a
                // full queue, never on the network.
                if self.outbound.send(msg).await.is_err() {
                    tracing::error!("control session gone; message lost");
                }
            }
            Action::Register { capacity } => {
                self.metrics.capacity.set(capacity as i64);
                self.capacity.send_replace(capacity);
            }
            Action::Spawn { job, spec, restart } => {
                if restart == 0 {
                    self.metrics.jobs_started.inc();
                } else {
                    self.metrics.job_restarts.inc();
                }
                let labels = StreamLabels { channel: spec.channel.clone(), stream_id: spec.stream_id.clone() };
                let io = self.jobs.entry(job).or_insert_with(|| JobIo {
                    mirror: Mirror::default(),
                    run: None,
                    labels,
                    closed: false,
                    spec: spec.clone(),
                });
                let resume = if restart > 0 { io.mirror.resume() } else { None };
                let span = tracing::info_span!("job", channel = %spec.channel, stream_id = %spec.stream_id);
                let _entered = span.enter();
                if let Some(r) = &resume {
                    tracing::info!(restart, next_segment = r.next_segment, "restarting the pipeline");
                }
                // Spec §4: invalid items are dropped (with a warning); none left is ORIGINAL. A
                // restarted run keeps its first run's ladder from the hand-over instead.
                let mut ladder = Vec::new();
                if resume.is_none() {
                    ladder = crate::ladder::parse_list_warn(&spec.resolutions);
                    if ladder.is_empty() {
                        ladder.push(crate::ladder::RequestItem::Original);
                    }
                }
                let c = &self.children;
                let child_job = ChildJob::for_run(&spec, ladder, &c.defaults, resume);
                match child::spawn(c, job, &child_job, self.reports_tx.clone()) {
                    Ok(handle) => {
                        let liveness = Liveness::new(Instant::now());
                        let started = Instant::now();
                        io.run =
                            Some(Run { handle, liveness, killed: false, cpu_counted: 0.0, started, cpu_window: 0.0 });
                    }
                    Err(e) => {
                        tracing::error!("cannot start transcode {}: {e}", c.exe.display());
                        let why = format!("cannot start transcode: {e}");
                        self.pending.push_back(Input::ChildExited { job, crashed: true, stderr_tail: vec![why] });
                    }
                }
            }
            Action::StopGracefully { job, deadline } => {
                if let Some(run) = self.run_of(job) {
                    run.handle.stop_at(deadline);
                    run.liveness.finishing();
                }
            }
            Action::Kill { job } => {
                if let Some(run) = self.run_of(job) {
                    run.killed = true;
                    run.handle.kill();
                }
            }
            Action::Exit => self.exited = true,
        }
    }

    fn run_of(&mut self, job: JobId) -> Option<&mut Run> {
        self.jobs.get_mut(&job).and_then(|io| io.run.as_mut())
    }

    async fn on_report(&mut self, report: ChildReport) {
        match report {
            ChildReport::Event(job, event) => {
                let decisions = match &event {
                    Event::Started { renditions, .. } => {
                        self.governor.started(job, renditions);
                        self.handle(Input::LadderChosen { job, ladder: renditions.clone() }).await;
                        Vec::new()
                    }
                    Event::Stats { renditions, input_behind_seconds, input_wait, .. } => {
                        // What the overload governor judges by, for an operator asking why.
                        let figures: Vec<String> = renditions
                            .iter()
                            .map(|r| format!("{} {:.2}x busy {:.2} cpu {:.2}", r.rendition, r.speed, r.busy, r.cpu))
                            .collect();
                        tracing::debug!(job, input_behind = ?input_behind_seconds, input_wait = ?input_wait,
                            renditions = %figures.join(", "), "stats");
                        let input = ReaderFigures { behind: *input_behind_seconds, wait: *input_wait };
                        self.governor.stats(Instant::now(), job, renditions, input)
                    }
                    Event::RenditionShed { rendition, .. } => {
                        self.governor.took_effect(Instant::now(), job, rendition);
                        Vec::new()
                    }
                    _ => Vec::new(),
                };
                self.execute_overload(decisions).await;
                if let Some(io) = self.jobs.get_mut(&job) {
                    io.mirror.on_event(&event);
                    if let Some(run) = io.run.as_mut() {
                        run.liveness.on_event(Instant::now(), &event);
                    }
                    if !io.closed {
                        self.metrics.on_event(&io.labels, &event);
                    }
                }
                if let Some(input) = table_input(job, event) {
                    self.handle(input).await;
                }
            }
            ChildReport::Exited { job, crashed, status, stderr_tail } => {
                let io = self.jobs.get_mut(&job);
                let (channel, stream_id) = io.as_ref().map_or((String::new(), String::new()), |io| {
                    (io.labels.channel.clone(), io.labels.stream_id.clone())
                });
                let killed = io.and_then(|io| io.run.take()).is_some_and(|r| r.killed);
                if crashed && !killed {
                    let stderr = crate::redact::redact_urls(&stderr_tail.join("\n"));
                    tracing::warn!(job, %channel, %stream_id, %status, %stderr, "transcode crashed");
                } else {
                    tracing::debug!(job, %channel, %stream_id, %status, "transcode exited");
                }
                self.handle(Input::ChildExited { job, crashed, stderr_tail }).await;
            }
        }
    }

    /// CPU and memory of every running child, from /proc, into the job's series.
    fn measure_children(&mut self) {
        for io in self.jobs.values_mut().filter(|io| !io.closed) {
            let Some(run) = io.run.as_mut() else { continue };
            let Some(usage) = run.handle.pid().and_then(|pid| procfs::usage(Some(pid))) else { continue };
            let more = (usage.cpu_seconds - run.cpu_counted).max(0.0);
            run.cpu_counted = usage.cpu_seconds.max(run.cpu_counted);
            run.cpu_window += more;
            self.metrics.job_resources(&io.labels, more, Some(usage.rss_bytes));
        }
    }

    /// `SERVER_CAPACITY=auto`: every [`CPU_WINDOW`], what the jobs that run past their start-up
    /// really used corrects the cost model.
    async fn correct_budget(&mut self) {
        let Some(budget) = self.table.budget() else { return };
        let now = Instant::now();
        let window = now.saturating_duration_since(self.cpu_window_start).as_secs_f64();
        if window < CPU_WINDOW.as_secs_f64() {
            return;
        }
        self.cpu_window_start = now;
        let mut measured = Vec::new();
        for (job, io) in &mut self.jobs {
            let Some(run) = io.run.as_mut() else { continue };
            let cores = std::mem::take(&mut run.cpu_window) / window;
            if now.saturating_duration_since(run.started) >= CPU_WINDOW * 2 && !io.closed {
                measured.push((*job, (cores * 1000.0).round() as u32));
            }
        }
        let before = budget.correction();
        if !measured.is_empty() {
            self.handle(Input::CpuMeasured(measured)).await;
        }
        if let Some(b) = self.table.budget() {
            self.metrics.capacity_model(b.cores, b.used(), b.unit * b.correction(), b.correction());
            if (b.correction() - before).abs() > 0.05 {
                tracing::info!(
                    correction = format!("{:.2}", b.correction()),
                    used_cores = format!("{:.2}", b.used()),
                    "capacity model corrected from the jobs' measured CPU"
                );
            }
        }
    }

    /// §9.3: a stalled run is killed; its exit without `closed` makes the table restart it.
    fn kill_stalled(&mut self) {
        let now = Instant::now();
        for (job, io) in &mut self.jobs {
            let Some(run) = io.run.as_mut().filter(|r| !r.killed) else { continue };
            if let Some(why) = run.liveness.stalled(now, &self.children.stall) {
                let (channel, stream_id) = (&io.labels.channel, &io.labels.stream_id);
                tracing::warn!(job, %channel, %stream_id, reason = %why, "pipeline stalled: killing it for a restart");
                run.killed = true;
                run.handle.kill();
            }
        }
    }
}

/// Sleeps until `at`, or forever.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// The child events the table decides on; the rest only feed the mirror and stall detection.
fn table_input(job: JobId, event: Event) -> Option<Input> {
    match event {
        Event::Started { .. } => Some(Input::ChildStarted(job)),
        Event::IndexAvailable { stream_type, resolution, index_file, start_time } => Some(Input::IndexAvailable {
            job,
            stream_type: stream_type.as_str().to_string(),
            resolution,
            index_file,
            start_time,
        }),
        Event::Finishing { reason, error_code, message } => {
            Some(Input::ChildFinishing { job, error_code, message, end: reason })
        }
        Event::Closed { reason, error_code, message } => {
            Some(Input::ChildClosed { job, error_code, message, end: reason })
        }
        Event::Stream { .. }
        | Event::SegmentCut { .. }
        | Event::Segment { .. }
        | Event::SegmentSkipped { .. }
        | Event::RenditionShed { .. }
        | Event::Progress { .. }
        | Event::PreviewsDurable { .. }
        | Event::Alive { .. }
        | Event::Stats { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_is_this_program_or_the_wrapper_with_this_program_as_its_argument() {
        let exe = std::path::Path::new("/opt/hls-ladder");
        assert_eq!(command_line(&[], exe), (OsString::from("/opt/hls-ladder"), vec![]));
        let wrapper = ["qemu-arm".to_string(), "-L".into(), "/".into()];
        let (program, args) = command_line(&wrapper, exe);
        assert_eq!(program, "qemu-arm");
        assert_eq!(args, ["-L", "/", "/opt/hls-ladder"]);
    }
}
