//! The table's interface, sans-IO: its settings ([`TableConfig`], [`Capacity`]), what goes
//! in ([`Input`]) and what comes out ([`Action`]).

use std::time::{Duration, Instant};

use crate::child_protocol::{EndKind, JobSpec};
use crate::control::message::{EncodeStartRaw, ErrorCode, Inbound, Outbound};

/// Internal handle of one accepted job; it stays the same across pipeline restarts.
pub type JobId = u64;

/// `SERVER_CAPACITY`: how the table admits jobs, and what it registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capacity {
    /// `-1`: any number of jobs.
    Unlimited,
    /// At most this many jobs at once (`0`: the coordinator never assigns one here).
    Jobs(u32),
    /// `auto`: by the CPU budget measured at start-up ([`JobTable::with_budget`]); a table
    /// without a budget admits nothing.
    Auto,
}

impl Capacity {
    /// A job count as the coordinator writes it: negative is unlimited.
    pub fn jobs(count: i32) -> Capacity {
        u32::try_from(count).map_or(Capacity::Unlimited, Capacity::Jobs)
    }
}

impl std::fmt::Display for Capacity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Capacity::Unlimited => f.write_str("-1"),
            Capacity::Jobs(n) => write!(f, "{n}"),
            Capacity::Auto => f.write_str("auto"),
        }
    }
}

/// The worker settings the table needs (spec §11), from `config::WorkerArgs::table`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableConfig {
    /// `SERVER_CAPACITY`: local admission limit and REGISTER repair.
    pub capacity: Capacity,
    /// `HLS_STOP_GRACE_SECONDS`: grace of an ENCODE-STOP without `Grace-Period`.
    pub stop_grace: Duration,
    /// `HLS_FINALIZE_TIMEOUT_SECONDS`: bound from *finishing* to STREAM-CLOSED.
    pub finalize_timeout: Duration,
    /// `HLS_RESTART_MAX`: pipeline restarts per job in any 10 minutes.
    pub restart_max: u32,
    /// `HLS_SHUTDOWN_TIMEOUT_SECONDS`: how long jobs may run on after a shutdown request.
    pub shutdown_timeout: Duration,
}

/// Everything that can change the table's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    EncodeStart(EncodeStartRaw),
    EncodeStop {
        channel: String,
        /// Empty means every job of the channel.
        stream_id: String,
        /// `Grace-Period` when present and valid; `None` uses [`TableConfig::stop_grace`].
        grace: Option<Duration>,
    },
    /// The child opened its source and chose its ladder: the job now has output, so a stop
    /// must let it finish instead of killing it.
    ChildStarted(JobId),
    /// The child made an index durable (its `index_available` event).
    IndexAvailable {
        job: JobId,
        stream_type: String,
        resolution: String,
        index_file: String,
        start_time: Option<String>,
    },
    /// The child's `finishing` event: its pipeline ended (same fields as `ChildClosed`) and
    /// only the final writes remain. STREAM-CLOSED is due within `finalize_timeout` from here,
    /// `closed` or not (§9.1.4).
    ChildFinishing {
        job: JobId,
        error_code: Option<ErrorCode>,
        message: Option<String>,
        end: EndKind,
    },
    /// The child's `closed` event: its final playlists are durable.
    ChildClosed {
        job: JobId,
        error_code: Option<ErrorCode>,
        /// The child's explanation, already free of stream keys; becomes `Error-Message`.
        message: Option<String>,
        /// How the run ended: only a failure ([`EndKind::is_restartable`]) may be restarted.
        end: EndKind,
    },
    /// The child process is gone. `crashed`: killed by a signal or exited without `closed`.
    ChildExited {
        job: JobId,
        crashed: bool,
        /// The last lines the child wrote to stderr (its log), for the close message of a
        /// job whose restarts are used up.
        stderr_tail: Vec<String>,
    },
    /// Some job has fallen behind real time (`true`), or every job kept up for the recovery
    /// time (`false`): see `overload`. While overloaded the worker takes no new work.
    Overloaded(bool),
    /// The job's run chose its ladder (`SERVER_CAPACITY=auto`: its cost is revised).
    LadderChosen {
        job: JobId,
        ladder: Vec<crate::ladder::Rendition>,
    },
    /// CPU the running jobs' processes used recently, millicores per job
    /// (`SERVER_CAPACITY=auto`: corrects the cost model).
    CpuMeasured(Vec<(JobId, u32)>),
    /// Timers: stop and finalize deadlines, restart backoff, shutdown timeout.
    Tick,
    /// SIGTERM/SIGINT. A second one exits at once (spec §9.4).
    Shutdown,
}

impl Input {
    /// The coordinator messages that concern jobs; heartbeats, errors and unknown methods are
    /// the session's business.
    pub fn from_inbound(msg: Inbound) -> Option<Input> {
        match msg {
            Inbound::EncodeStart(raw) => Some(Input::EncodeStart(raw)),
            Inbound::EncodeStop { channel, stream_id, grace } => Some(Input::EncodeStop { channel, stream_id, grace }),
            Inbound::Heartbeat | Inbound::Error { .. } | Inbound::Unknown(_) => None,
        }
    }
}

/// What the adapters must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Queue a message for the coordinator (STREAM-AVAILABLE, STREAM-CLOSED or ERROR).
    Send(Outbound),
    /// Send `REGISTER` now if connected (not queued: a stale capacity is worthless).
    Register { capacity: i32 },
    /// Start `hls-ladder transcode` for the job. `restart` is 0 for the first run; later runs
    /// continue the stream's numbering.
    Spawn { job: JobId, spec: JobSpec, restart: u32 },
    /// Tell the child to stop reading its source at `deadline`, then finish and report `closed`.
    /// A later one with an earlier deadline replaces it.
    StopGracefully { job: JobId, deadline: Instant },
    /// Kill the child now; its `ChildExited` is still expected.
    Kill { job: JobId },
    /// Shutdown is complete: every job is closed. The session flushes its queue and exits 0.
    Exit,
}
