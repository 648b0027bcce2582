//! One test per rule of the job table; `scenarios.rs` replays spec §13. Actions are compared as
//! short strings (`"CLOSED c1/s1 BAD_JOB"`, `"STOP 1 @32"`) so a test reads as a transcript.

use std::time::{Duration, Instant};

use super::super::{Action, Capacity, Input, JobId, JobTable, TableConfig};
use crate::child_protocol::EndKind;
use crate::control::message::{EncodeStartRaw, ErrorCode, Inbound, Outbound};

pub(super) fn cfg(capacity: i32) -> TableConfig {
    TableConfig { capacity: Capacity::jobs(capacity), ..crate::config::default_table_config() }
}

/// How a run with this error code ends, as the child reports it: no code is the source's end.
pub(super) fn end_of(code: Option<ErrorCode>) -> EndKind {
    if code.is_none() {
        EndKind::EndOfStream
    } else {
        EndKind::Failed
    }
}

pub(super) fn start(channel: &str, stream_id: &str) -> Input {
    Input::EncodeStart(EncodeStartRaw {
        channel: channel.into(),
        stream_id: stream_id.into(),
        source_type: "WS".into(),
        source_uri: format!("ws://10.0.0.5:80/{channel}/secretkey"),
        resolutions: "1280x720-30,640x360-30".into(),
        record: "False".into(),
        previews: "False".into(),
    })
}

pub(super) fn stop(channel: &str, stream_id: &str, grace: Option<u64>) -> Input {
    Input::EncodeStop { channel: channel.into(), stream_id: stream_id.into(), grace: grace.map(Duration::from_secs) }
}

pub(super) fn closed(job: JobId, code: Option<ErrorCode>) -> Input {
    Input::ChildClosed { job, error_code: code, message: None, end: end_of(code) }
}

pub(super) fn crashed(job: JobId) -> Input {
    Input::ChildExited { job, crashed: true, stderr_tail: Vec::new() }
}

pub(super) fn exited(job: JobId) -> Input {
    Input::ChildExited { job, crashed: false, stderr_tail: Vec::new() }
}

/// The table plus a clock in seconds, rendering actions as strings.
pub(super) struct Sim {
    pub table: JobTable,
    t0: Instant,
    now: Instant,
    /// (channel, id) of every spawned job, to build its index files.
    names: Vec<(JobId, String, String)>,
}

impl Sim {
    pub fn new(cfg: TableConfig) -> Sim {
        let t0 = Instant::now();
        Sim { table: JobTable::new(cfg), t0, now: t0, names: Vec::new() }
    }

    /// Moves the clock to `secs` after the start (never backwards) and applies `input`.
    pub fn at(&mut self, secs: f64, input: Input) -> Vec<String> {
        self.now = self.now.max(self.t0 + Duration::from_secs_f64(secs));
        let actions = self.table.handle(self.now, input);
        actions.iter().map(|a| self.render(a)).collect()
    }

    /// The live playlist of `res` for a job, as its child would announce it.
    pub fn live(&self, job: JobId, res: &str) -> Input {
        let (_, ch, id) = self.names.iter().find(|(j, _, _)| *j == job).expect("spawned job");
        Input::IndexAvailable {
            job,
            stream_type: "HLS-LIVE".into(),
            resolution: res.into(),
            index_file: format!("hls/{ch}/{id}/{res}/live.m3u8"),
            start_time: None,
        }
    }

    pub fn next_deadline(&self) -> Option<f64> {
        self.table.next_deadline().map(|t| (t - self.t0).as_secs_f64())
    }

    fn render(&mut self, action: &Action) -> String {
        match action {
            Action::Send(Outbound::StreamClosed { channel, stream_id, error: None }) => {
                format!("CLOSED {channel}/{stream_id}")
            }
            Action::Send(Outbound::StreamClosed { channel, stream_id, error: Some((code, _)) }) => {
                format!("CLOSED {channel}/{stream_id} {code}")
            }
            Action::Send(Outbound::StreamAvailable { channel, stream_id, index_file, start_time, .. }) => {
                let at = start_time.as_ref().map(|t| format!(" @{t}")).unwrap_or_default();
                format!("AVAILABLE {channel}/{stream_id} {index_file}{at}")
            }
            Action::Send(Outbound::Error { code, .. }) => format!("ERROR {code}"),
            Action::Send(other) => format!("SEND {other:?}"),
            Action::Register { capacity } => format!("REGISTER {capacity}"),
            Action::Spawn { job, spec, restart } => {
                self.names.push((*job, spec.channel.clone(), spec.stream_id.clone()));
                format!("SPAWN {job} r{restart}")
            }
            Action::StopGracefully { job, deadline } => {
                format!("STOP {job} @{}", (*deadline - self.t0).as_secs_f64())
            }
            Action::Kill { job } => format!("KILL {job}"),
            Action::Exit => "EXIT".into(),
        }
    }
}

#[test]
fn valid_job_spawns_once_with_its_validated_spec() {
    let mut table = JobTable::new(cfg(-1));
    let actions = table.handle(Instant::now(), start("c1", "s1"));
    let [Action::Spawn { job: 1, spec, restart: 0 }] = actions.as_slice() else { panic!("{actions:?}") };
    assert_eq!((spec.channel.as_str(), spec.stream_id.as_str()), ("c1", "s1"));
    assert!(!spec.record);
    assert_eq!(spec.previews, None);
    assert_eq!(table.active(), 1);
}

#[test]
fn invalid_job_gets_bad_job_and_no_spawn() {
    let mut sim = Sim::new(cfg(-1));
    let Input::EncodeStart(mut raw) = start("c1", "s1") else { unreachable!() };
    raw.source_type = "FOO".into();
    assert_eq!(sim.at(0.0, Input::EncodeStart(raw.clone())), ["CLOSED c1/s1 BAD_JOB"]);
    raw.stream_id = "s2".into();
    raw.source_type = "RTMP".into();
    assert_eq!(sim.at(0.0, Input::EncodeStart(raw)), ["CLOSED c1/s2 BAD_JOB"], "ws:// URI for an RTMP source");
    assert_eq!(sim.at(0.0, start("../x", "s1")), ["CLOSED ../x/s1 BAD_JOB"]);
    assert_eq!(sim.at(0.0, start("c1", "a/b")), ["CLOSED c1/a/b BAD_JOB"]);
    assert_eq!(sim.table.active(), 0);
}

#[test]
fn bad_job_without_an_echoable_channel_or_id_gets_an_error() {
    let mut sim = Sim::new(cfg(-1));
    assert_eq!(sim.at(0.0, start("", "s1")), ["ERROR BAD_JOB"]);
    assert_eq!(sim.at(0.0, start("c1", "")), ["ERROR BAD_JOB"]);
    assert_eq!(sim.at(0.0, start("c\u{1b}[2J", "s1")), ["ERROR BAD_JOB"]);
}

#[test]
fn duplicate_of_a_running_job_is_ignored() {
    let mut sim = Sim::new(cfg(-1));
    assert_eq!(sim.at(0.0, start("c1", "s1")), ["SPAWN 1 r0"]);
    assert!(sim.at(1.0, start("c1", "s1")).is_empty());
    assert_eq!(sim.table.active(), 1);
}

#[test]
fn duplicate_within_an_hour_of_close_is_ignored_and_accepted_after() {
    let mut sim = Sim::new(cfg(-1));
    sim.at(0.0, start("c1", "s1"));
    assert_eq!(sim.at(5.0, closed(1, None)), ["CLOSED c1/s1"]);
    sim.at(5.0, exited(1));
    assert!(sim.at(3604.0, start("c1", "s1")).is_empty());
    assert_eq!(sim.at(3605.0, start("c1", "s1")), ["SPAWN 2 r0"]);
    let Input::EncodeStart(mut bad) = start("c2", "s1") else { unreachable!() };
    bad.source_type = "FOO".into();
    assert_eq!(sim.at(3606.0, Input::EncodeStart(bad.clone())), ["CLOSED c2/s1 BAD_JOB"]);
    assert!(sim.at(3607.0, Input::EncodeStart(bad)).is_empty(), "a refused job also closed");
}

#[test]
fn over_capacity_is_refused_and_capacity_is_re_registered() {
    let mut sim = Sim::new(cfg(2));
    assert_eq!(sim.table.register_capacity(), 2);
    assert_eq!(sim.at(0.0, start("c1", "s1")), ["SPAWN 1 r0", "REGISTER 1"]);
    assert_eq!(sim.at(0.0, start("c2", "s1")), ["SPAWN 2 r0", "REGISTER 0"]);
    assert_eq!(sim.at(0.0, start("c3", "s1")), ["CLOSED c3/s1 OVER_CAPACITY"], "refusal changes nothing");
    assert_eq!(sim.at(9.0, closed(1, None)), ["CLOSED c1/s1", "REGISTER 1"]);
    assert!(sim.at(9.0, exited(1)).is_empty());
    assert_eq!(sim.table.register_capacity(), 1);
}

#[test]
fn capacity_zero_refuses_every_job_and_never_re_registers() {
    let mut sim = Sim::new(cfg(0));
    assert_eq!(sim.at(0.0, start("c1", "s1")), ["CLOSED c1/s1 OVER_CAPACITY"]);
    assert_eq!(sim.table.register_capacity(), 0);
}

#[test]
fn unlimited_capacity_never_re_registers() {
    let mut sim = Sim::new(cfg(-1));
    for n in 0..50 {
        assert_eq!(sim.at(0.0, start(&format!("c{n}"), "s")), [format!("SPAWN {} r0", n + 1)]);
    }
    assert_eq!(sim.at(1.0, closed(7, None)), ["CLOSED c6/s"]);
    assert_eq!(sim.table.register_capacity(), -1);
}

#[test]
fn each_index_is_announced_once_across_restarts() {
    let mut sim = Sim::new(cfg(-1));
    sim.at(0.0, start("c1", "s1"));
    sim.at(1.0, Input::ChildStarted(1));
    assert_eq!(sim.at(2.0, sim.live(1, "640x360-30")), ["AVAILABLE c1/s1 hls/c1/s1/640x360-30/live.m3u8"]);
    assert!(sim.at(3.0, sim.live(1, "640x360-30")).is_empty());
    assert!(sim.at(4.0, crashed(1)).is_empty());
    assert_eq!(sim.at(5.0, Input::Tick), ["SPAWN 1 r1"]);
    assert!(sim.at(6.0, sim.live(1, "640x360-30")).is_empty(), "no duplicate HLS-LIVE after a restart");
    assert_eq!(sim.at(6.0, sim.live(1, "1280x720-30")), ["AVAILABLE c1/s1 hls/c1/s1/1280x720-30/live.m3u8"]);
}

#[test]
fn announcements_outside_the_stream_or_after_close_are_dropped() {
    let mut sim = Sim::new(cfg(-1));
    sim.at(0.0, start("c1", "s1"));
    sim.at(0.0, start("c1x", "s1"));
    let mut foreign = sim.live(2, "640x360-30");
    if let Input::IndexAvailable { job, .. } = &mut foreign {
        *job = 1;
    }
    assert!(sim.at(1.0, foreign).is_empty(), "another stream's index");
    let preview = Input::IndexAvailable {
        job: 1,
        stream_type: "IMG-PREVIEW".into(),
        resolution: "256x144-1".into(),
        index_file: "img-preview/c1/s1/256x144-1/index.json".into(),
        start_time: None,
    };
    assert_eq!(sim.at(1.0, preview), ["AVAILABLE c1/s1 img-preview/c1/s1/256x144-1/index.json"]);
    assert_eq!(sim.at(2.0, closed(1, None)), ["CLOSED c1/s1"]);
    assert!(sim.at(2.0, sim.live(1, "640x360-30")).is_empty());
}

#[test]
fn stop_before_any_output_kills_and_closes_at_once() {
    let mut sim = Sim::new(cfg(-1));
    sim.at(0.0, start("c1", "s1"));
    assert_eq!(sim.at(1.0, stop("c1", "s1", None)), ["KILL 1", "CLOSED c1/s1"]);
    assert!(sim.at(1.5, closed(1, Some(ErrorCode::SourceUnreachable))).is_empty());
    assert!(sim.at(2.0, crashed(1)).is_empty());
    assert_eq!(sim.table.active(), 0);
    assert_eq!(sim.next_deadline(), None);
}

#[test]
fn stop_with_output_drains_until_the_grace_deadline() {
    let mut sim = Sim::new(cfg(-1));
    sim.at(0.0, start("c1", "s1"));
    sim.at(0.0, start("c1", "s2"));
    sim.at(1.0, Input::ChildStarted(1));
    sim.at(1.0, Input::ChildStarted(2));
    assert_eq!(sim.at(2.0, stop("c1", "s1", Some(2))), ["STOP 1 @4"]);
    assert_eq!(sim.at(3.0, stop("c1", "s2", None)), ["STOP 2 @33"], "HLS_STOP_GRACE_SECONDS");
    assert_eq!(sim.next_deadline(), Some(14.0), "finalize bound of job 1");
}

#[test]
fn a_second_stop_may_shorten_but_never_extend_the_deadline() {
    let mut sim = Sim::new(cfg(-1));
    sim.at(0.0, start("c1", "s1"));
    sim.at(1.0, Input::ChildStarted(1));
    assert_eq!(sim.at(2.0, stop("c1", "s1", Some(10))), ["STOP 1 @12"]);
    assert!(sim.at(3.0, stop("c1", "s1", Some(20))).is_empty());
    assert_eq!(sim.at(4.0, stop("c1", "s1", Some(1))), ["STOP 1 @5"]);
    assert!(sim.at(6.0, stop("c1", "s1", Some(0))).is_empty(), "already finishing");
}

#[test]
fn stop_with_an_empty_id_stops_the_whole_channel_only() {
    let mut sim = Sim::new(cfg(-1));
    sim.at(0.0, start("c1", "s1"));
    sim.at(0.0, start("c1", "s2"));
    sim.at(0.0, start("c2", "s1"));
    assert_eq!(sim.at(1.0, stop("c1", "", None)), ["KILL 1", "KILL 2", "CLOSED c1/s1", "CLOSED c1/s2"]);
    assert!(sim.at(1.0, stop("c3", "", None)).is_empty());
    assert!(sim.at(1.0, stop("c2", "s9", None)).is_empty());
    assert_eq!(sim.table.active(), 1);
}

#[test]
fn a_stopped_job_is_never_restarted() {
    let mut sim = Sim::new(cfg(-1));
    sim.at(0.0, start("c1", "s1"));
    sim.at(1.0, Input::ChildStarted(1));
    sim.at(2.0, stop("c1", "s1", Some(5)));
    assert_eq!(sim.at(3.0, crashed(1)), ["CLOSED c1/s1 PIPELINE_FAILED"]);
    sim.at(0.0, start("c2", "s1"));
    sim.at(4.0, Input::ChildStarted(2));
    sim.at(4.0, stop("c2", "s1", Some(5)));
    assert_eq!(sim.at(5.0, closed(2, Some(ErrorCode::PipelineFailed))), ["CLOSED c2/s1 PIPELINE_FAILED"]);
    assert!(sim.at(6.0, exited(2)).is_empty());
    assert_eq!(sim.next_deadline(), None);
}

#[test]
fn hung_child_is_killed_and_closed_at_the_finalize_bound() {
    let mut sim = Sim::new(cfg(-1));
    sim.at(0.0, start("c1", "s1"));
    sim.at(1.0, Input::ChildStarted(1));
    assert_eq!(sim.at(2.0, stop("c1", "s1", Some(2))), ["STOP 1 @4"]);
    assert_eq!(sim.next_deadline(), Some(14.0));
    assert!(sim.at(13.9, Input::Tick).is_empty());
    assert_eq!(sim.at(14.0, Input::Tick), ["KILL 1", "CLOSED c1/s1 PIPELINE_FAILED"]);
    assert!(sim.at(14.5, sim.live(1, "640x360-30")).is_empty(), "late announcement dropped");
    assert!(sim.at(15.0, crashed(1)).is_empty());
    assert_eq!(sim.next_deadline(), None);
}

#[test]
fn child_that_lingers_after_closing_is_killed() {
    let mut sim = Sim::new(cfg(-1));
    sim.at(0.0, start("c1", "s1"));
    assert_eq!(sim.at(3.0, closed(1, None)), ["CLOSED c1/s1"]);
    assert_eq!(sim.next_deadline(), Some(13.0));
    assert_eq!(sim.at(13.0, Input::Tick), ["KILL 1"]);
    assert!(sim.at(13.0, Input::Tick).is_empty(), "killed once");
    assert!(sim.at(14.0, crashed(1)).is_empty());
}

#[test]
fn crashes_restart_after_one_two_four_seconds_then_fail() {
    let mut sim = Sim::new(cfg(-1));
    sim.at(0.0, start("c1", "s1"));
    let mut t = 10.0;
    for (restart, delay) in [(1, 1.0), (2, 2.0), (3, 4.0)] {
        assert!(sim.at(t, crashed(1)).is_empty());
        assert_eq!(sim.next_deadline(), Some(t + delay));
        assert!(sim.at(t + delay - 0.1, Input::Tick).is_empty());
        assert_eq!(sim.at(t + delay, Input::Tick), [format!("SPAWN 1 r{restart}")]);
        t += 20.0;
    }
    assert_eq!(sim.at(t, crashed(1)), ["CLOSED c1/s1 PIPELINE_FAILED"]);
    assert_eq!(sim.table.active(), 0);
}

#[test]
fn restart_budget_counts_only_the_last_ten_minutes() {
    let mut sim = Sim::new(TableConfig { restart_max: 1, ..cfg(-1) });
    sim.at(0.0, start("c1", "s1"));
    sim.at(10.0, crashed(1));
    assert_eq!(sim.at(11.0, Input::Tick), ["SPAWN 1 r1"]);
    sim.at(611.0, crashed(1));
    assert_eq!(sim.at(612.0, Input::Tick), ["SPAWN 1 r2"], "the restart at 11 s has left the window");
    assert_eq!(sim.at(700.0, crashed(1)), ["CLOSED c1/s1 PIPELINE_FAILED"]);
}

#[test]
fn pipeline_failure_event_restarts_only_once_the_child_exited() {
    let mut sim = Sim::new(cfg(-1));
    sim.at(0.0, start("c1", "s1"));
    sim.at(1.0, Input::ChildStarted(1));
    let failed =
        Input::ChildClosed { job: 1, error_code: Some(ErrorCode::PipelineFailed), message: None, end: EndKind::Failed };
    assert!(sim.at(5.0, failed).is_empty());
    assert_eq!(sim.next_deadline(), Some(15.0), "exit bound");
    assert!(sim.at(6.0, exited(1)).is_empty());
    assert_eq!(sim.at(7.0, Input::Tick), ["SPAWN 1 r1"]);
}

#[test]
fn ended_sources_and_final_errors_are_never_restarted() {
    let mut sim = Sim::new(cfg(-1));
    let ends = [
        (None, EndKind::EndOfStream, ""),
        (Some(ErrorCode::SourceTimeout), EndKind::Failed, " SOURCE_TIMEOUT"),
        (Some(ErrorCode::SourceUnreachable), EndKind::Failed, " SOURCE_UNREACHABLE"),
        (Some(ErrorCode::FragmentLimit), EndKind::FragmentLimit, " FRAGMENT_LIMIT"),
        (Some(ErrorCode::BadJob), EndKind::Failed, " BAD_JOB"),
        (Some(ErrorCode::PipelineFailed), EndKind::Stopped, " PIPELINE_FAILED"),
    ];
    for (n, (code, end, suffix)) in ends.into_iter().enumerate() {
        let job = n as JobId + 1;
        sim.at(0.0, start(&format!("c{n}"), "s"));
        let close = Input::ChildClosed { job, error_code: code, message: None, end };
        assert_eq!(sim.at(1.0, close), [format!("CLOSED c{n}/s{suffix}")]);
        assert!(sim.at(2.0, exited(job)).is_empty());
    }
    assert!(sim.at(100.0, Input::Tick).is_empty());
    assert_eq!(sim.table.active(), 0);
}

#[test]
fn stop_during_restart_backoff_closes_at_once() {
    let mut sim = Sim::new(cfg(-1));
    sim.at(0.0, start("c1", "s1"));
    sim.at(1.0, Input::ChildStarted(1));
    sim.at(5.0, crashed(1));
    assert_eq!(sim.at(5.5, stop("c1", "s1", None)), ["CLOSED c1/s1"]);
    assert!(sim.at(7.0, Input::Tick).is_empty());
}

#[test]
fn superseded_close_is_held_until_the_newer_stream_closes() {
    let mut sim = Sim::new(cfg(3));
    sim.at(0.0, start("c1", "a"));
    sim.at(1.0, start("c1", "b"));
    sim.at(2.0, start("c1", "c"));
    assert!(sim.at(3.0, closed(1, None)).is_empty(), "a is held behind b and c");
    assert_eq!(sim.table.active(), 3, "a held close is not sent, so a is still active");
    assert!(sim.at(4.0, closed(2, None)).is_empty(), "b is held behind c");
    assert_eq!(sim.at(5.0, closed(3, None)), ["CLOSED c1/a", "CLOSED c1/b", "CLOSED c1/c", "REGISTER 3"]);
    assert!(sim.at(5.0, start("c1", "a")).is_empty(), "held jobs count as closed for duplicates");
}

#[test]
fn newer_stream_that_closes_first_does_not_hold_the_older_one() {
    let mut sim = Sim::new(cfg(-1));
    sim.at(0.0, start("c1", "a"));
    sim.at(1.0, start("c1", "b"));
    assert_eq!(sim.at(2.0, closed(2, None)), ["CLOSED c1/b"]);
    assert_eq!(sim.at(3.0, closed(1, None)), ["CLOSED c1/a"]);
}

#[test]
fn hostile_grace_period_does_not_overflow_the_clock() {
    let mut sim = Sim::new(cfg(-1));
    sim.at(0.0, start("c1", "s1"));
    sim.at(0.0, Input::ChildStarted(1));
    let huge = Input::EncodeStop { channel: "c1".into(), stream_id: "s1".into(), grace: Some(Duration::MAX) };
    let actions = sim.at(1.0, huge);
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert!(sim.next_deadline().unwrap() > 1.0e6);
}

#[test]
fn only_job_messages_become_inputs() {
    let stop_frame = Inbound::parse("ENCODE-STOP\nStream-Channel:c1\nStream-ID:\nGrace-Period:2\n");
    assert_eq!(Input::from_inbound(stop_frame), Some(stop("c1", "", Some(2))));
    assert_eq!(Input::from_inbound(Inbound::Heartbeat), None);
    assert_eq!(Input::from_inbound(Inbound::Unknown("FOO".into())), None);
}

pub(super) fn finishing(job: JobId, code: Option<ErrorCode>) -> Input {
    Input::ChildFinishing { job, error_code: code, message: None, end: end_of(code) }
}

#[test]
fn stream_closed_follows_finishing_within_the_finalize_timeout_even_if_writes_hang() {
    let mut sim = Sim::new(cfg(-1));
    sim.at(0.0, start("c1", "s1"));
    sim.at(1.0, Input::ChildStarted(1));
    sim.at(2.0, sim.live(1, "640x360-30"));
    // EOF at 20 s: the pipeline is done, the final playlist writes hang on storage.
    assert!(sim.at(20.0, finishing(1, None)).is_empty());
    assert_eq!(sim.next_deadline(), Some(30.0));
    assert!(sim.at(29.9, Input::Tick).is_empty());
    assert_eq!(sim.at(30.0, Input::Tick), ["CLOSED c1/s1"]);
    // The writes finish later: nothing more is announced, and `closed` changes nothing.
    assert!(sim.at(31.0, sim.live(1, "1280x720-30")).is_empty());
    assert!(sim.at(32.0, closed(1, None)).is_empty());
    assert!(sim.at(32.5, exited(1)).is_empty());
    assert_eq!(sim.next_deadline(), None);
}

#[test]
fn a_timely_closed_after_finishing_closes_as_usual() {
    let mut sim = Sim::new(cfg(-1));
    sim.at(0.0, start("c1", "s1"));
    sim.at(1.0, Input::ChildStarted(1));
    sim.at(20.0, finishing(1, Some(ErrorCode::FragmentLimit)));
    assert_eq!(sim.at(21.0, closed(1, Some(ErrorCode::FragmentLimit))), ["CLOSED c1/s1 FRAGMENT_LIMIT"]);
    assert!(sim.at(21.5, exited(1)).is_empty());
    assert!(sim.at(40.0, Input::Tick).is_empty(), "no second close at the finishing deadline");
    assert_eq!(sim.next_deadline(), None);
}

#[test]
fn a_child_lost_during_its_final_writes_ends_as_it_reported_instead_of_restarting() {
    let mut sim = Sim::new(cfg(-1));
    sim.at(0.0, start("c1", "s1"));
    sim.at(1.0, Input::ChildStarted(1));
    sim.at(20.0, finishing(1, None));
    assert_eq!(sim.at(21.0, crashed(1)), ["CLOSED c1/s1"], "EOF was reported: no restart");
    assert!(sim.at(60.0, Input::Tick).is_empty());
}

#[test]
fn while_overloaded_the_worker_registers_zero_and_refuses_new_jobs() {
    let mut sim = Sim::new(cfg(3));
    assert_eq!(sim.at(0.0, start("c1", "s1")), ["SPAWN 1 r0", "REGISTER 2"]);
    assert_eq!(sim.at(5.0, Input::Overloaded(true)), ["REGISTER 0"]);
    assert_eq!(sim.at(6.0, start("c2", "s1")), ["CLOSED c2/s1 OVER_CAPACITY"]);
    assert_eq!(sim.at(40.0, Input::Overloaded(false)), ["REGISTER 2"]);
    assert_eq!(sim.at(41.0, start("c3", "s1")), ["SPAWN 2 r0", "REGISTER 1"]);
    // Unlimited capacity says 0 while overloaded, and unlimited again after.
    let mut sim = Sim::new(cfg(-1));
    assert_eq!(sim.at(0.0, Input::Overloaded(true)), ["REGISTER 0"]);
    assert_eq!(sim.at(1.0, Input::Overloaded(true)), Vec::<String>::new());
    assert_eq!(sim.at(2.0, Input::Overloaded(false)), ["REGISTER -1"]);
}
