//! The state of one job between its ENCODE-START and its STREAM-CLOSED: the current child
//! process, the stop request, the end of the current run and the restart budget.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use super::interface::{Action, JobId};
use crate::child_protocol::EndKind;
use crate::child_protocol::JobSpec;
use crate::control::message::ErrorCode;

/// `HLS_RESTART_MAX` counts restarts within any window this long (§9.3).
const RESTART_WINDOW: Duration = Duration::from_secs(600);
/// The backoff doubles from 1 s up to this, for a large `HLS_RESTART_MAX`.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// `Error-Code` plus `Error-Message` of a STREAM-CLOSED; `None` for a clean end.
pub(super) type CloseError = Option<(ErrorCode, String)>;

pub(super) fn describe(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::SourceUnreachable => "source unreachable",
        ErrorCode::SourceTimeout => "no media from the source in time",
        ErrorCode::BadJob => "invalid job",
        ErrorCode::OverCapacity => "worker at capacity",
        ErrorCode::PipelineFailed => "pipeline failed",
        ErrorCode::FragmentLimit => "fragment count limit reached",
        ErrorCode::Shutdown => "worker shutting down",
    }
}

pub(super) fn error(code: ErrorCode, message: impl Into<String>) -> CloseError {
    Some((code, message.into()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// A child process runs (or is being killed) and the job is open.
    Running,
    /// The last child failed while the source was alive; the next one starts at `at`.
    Backoff { at: Instant },
    /// STREAM-CLOSED is produced; `sent: false` while it is held behind a newer job of the
    /// channel (guarantee 5). A held job still counts as active (§8's definition).
    Closed { sent: bool },
}

/// The job's current child process.
#[derive(Debug)]
pub(super) struct Child {
    /// Set once the child has nothing left to do (it reported `closed`, or the job closed):
    /// past this instant it is killed.
    pub(super) exit_by: Option<Instant>,
    pub(super) killed: bool,
}

/// An ENCODE-STOP or the shutdown timeout: the child reads until `deadline`, then finishes.
#[derive(Debug)]
pub(super) struct Stop {
    pub(super) deadline: Instant,
    /// `SHUTDOWN` for jobs stopped by the shutdown timeout; none for ENCODE-STOP.
    pub(super) code: Option<ErrorCode>,
}

/// The child's `closed` event for the current run.
#[derive(Debug)]
pub(super) struct RunEnd {
    pub(super) code: Option<ErrorCode>,
    pub(super) message: Option<String>,
    pub(super) end: EndKind,
}

impl RunEnd {
    /// Only a pipeline failure while the source lives is worth another run (§9.3).
    pub(super) fn is_restartable(&self) -> bool {
        self.code == Some(ErrorCode::PipelineFailed) && self.end.is_restartable()
    }

    pub(super) fn close_error(&self, stop: Option<&Stop>) -> CloseError {
        match self.code {
            Some(code) => error(code, self.message.clone().unwrap_or_else(|| describe(code).into())),
            None => stop.and_then(|s| s.code).and_then(|c| error(c, describe(c))),
        }
    }
}

/// Lines of a failed child's log quoted in its PIPELINE_FAILED message.
const STDERR_LINES: usize = 3;
/// Characters of an `Error-Message` we compose (the coordinator logs it; keep it readable).
const MAX_MESSAGE: usize = 800;

#[derive(Debug)]
pub(super) struct Job {
    pub(super) spec: JobSpec,
    pub(super) phase: Phase,
    pub(super) child: Option<Child>,
    /// The source opened at least once: a stop lets the job finish its playlists.
    pub(super) has_output: bool,
    pub(super) stop: Option<Stop>,
    /// The current run reported `finishing`: by this instant its end counts as reported even
    /// if `closed` has not come (its last writes go on unannounced).
    pub(super) finishing: Option<(Instant, RunEnd)>,
    pub(super) run_end: Option<RunEnd>,
    /// Index files announced so far, across restarts (guarantee 6).
    pub(super) announced: HashSet<String>,
    /// Start times of restarts within the last [`RESTART_WINDOW`].
    pub(super) restart_log: VecDeque<Instant>,
    pub(super) restarts: u32,
    /// The last lines the latest child wrote to stderr, for a PIPELINE_FAILED message.
    pub(super) last_stderr: Vec<String>,
}

impl Job {
    pub(super) fn new(spec: JobSpec) -> Job {
        Job {
            spec,
            phase: Phase::Running,
            child: Some(Child { exit_by: None, killed: false }),
            has_output: false,
            stop: None,
            finishing: None,
            run_end: None,
            announced: HashSet::new(),
            restart_log: VecDeque::new(),
            restarts: 0,
            last_stderr: Vec::new(),
        }
    }

    pub(super) fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed { .. })
    }

    /// Whether an index file lies under this stream's own directories (output-layout §1).
    pub(super) fn owns(&self, index_file: &str) -> bool {
        let (ch, id) = (&self.spec.channel, &self.spec.stream_id);
        [format!("hls/{ch}/{id}/"), format!("img-preview/{ch}/{id}/")].iter().any(|p| index_file.starts_with(p))
    }

    pub(super) fn kill(&mut self, id: JobId, out: &mut Vec<Action>) {
        if let Some(child) = self.child.as_mut().filter(|c| !c.killed) {
            child.killed = true;
            out.push(Action::Kill { job: id });
        }
    }

    /// §9.3: the wait before the next run, 1 s, 2 s, 4 s, …; or, when `restart_max` restarts
    /// already happened in the last 10 minutes, `Err` with that count.
    pub(super) fn restart_delay(&mut self, now: Instant, restart_max: u32) -> Result<Duration, u32> {
        let window_start = now.checked_sub(RESTART_WINDOW);
        self.restart_log.retain(|t| window_start.is_none_or(|w| *t > w));
        let recent = self.restart_log.len() as u32;
        if recent >= restart_max {
            return Err(recent);
        }
        Ok(Duration::from_secs(1 << recent.min(6)).min(MAX_BACKOFF))
    }

    /// The `Error-Message` of a job whose restarts are used up: the count, what the last run
    /// reported, and the end of its log, free of stream keys and bounded in length.
    pub(super) fn failure_message(&self, recent: u32) -> String {
        let mut text = format!("pipeline failed after {recent} restarts within 10 minutes");
        if let Some(why) = self.run_end.as_ref().and_then(|end| end.message.as_deref()) {
            text.push_str("; last run: ");
            text.push_str(why);
        }
        let tail: Vec<&str> = self.last_stderr.iter().rev().take(STDERR_LINES).rev().map(|l| l.trim()).collect();
        if !tail.is_empty() {
            text.push_str("; its log ended: ");
            text.push_str(&tail.join(" | "));
        }
        let text = crate::redact::redact_urls(&text);
        match text.char_indices().nth(MAX_MESSAGE) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text,
        }
    }

    /// Starts the next run; returns its restart number.
    pub(super) fn respawn(&mut self, now: Instant) -> u32 {
        self.restarts += 1;
        self.restart_log.push_back(now);
        self.phase = Phase::Running;
        self.child = Some(Child { exit_by: None, killed: false });
        self.finishing = None;
        self.restarts
    }
}
