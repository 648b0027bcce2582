//! The conformance scenarios of spec §13 that the job table decides (13–20, 22, 24, 25), as
//! message sequences in and actions out, plus the shutdown rules of §9.4.

use super::tests::{cfg, closed, crashed, exited, start, stop, Sim};
use crate::child_protocol::EndKind;
use crate::control::message::{EncodeStartRaw, ErrorCode};
use crate::supervisor::{Input, TableConfig};

const ID: &str = "0000018f4a2b3c4d00000007a1b2c3d4";

#[test]
fn scenario_13_unknown_source_type_closes_at_once_without_announcements() {
    let mut sim = Sim::new(cfg(-1));
    let Input::EncodeStart(raw) = start("c1", ID) else { unreachable!() };
    let foo = Input::EncodeStart(EncodeStartRaw { source_type: "FOO".into(), ..raw });
    assert_eq!(sim.at(0.0, foo), [format!("CLOSED c1/{ID} BAD_JOB")]);
}

#[test]
fn scenario_13_refused_connection_closes_at_once_without_restart() {
    let mut sim = Sim::new(cfg(-1));
    assert_eq!(sim.at(0.0, start("c1", ID)), ["SPAWN 1 r0"]);
    let refused = Input::ChildClosed {
        job: 1,
        error_code: Some(ErrorCode::SourceUnreachable),
        message: Some("cannot open ws://10.0.0.5:80/c1/***: Connection refused".into()),
        end: EndKind::Failed,
    };
    assert_eq!(sim.at(0.2, refused), [format!("CLOSED c1/{ID} SOURCE_UNREACHABLE")]);
    assert!(sim.at(0.3, Input::ChildExited { job: 1, crashed: false, stderr_tail: Vec::new() }).is_empty());
    assert!(sim.at(60.0, Input::Tick).is_empty());
}

#[test]
fn scenario_13_silent_source_closes_with_source_timeout() {
    let mut sim = Sim::new(cfg(-1));
    sim.at(0.0, start("c1", ID));
    assert!(sim.at(15.0, Input::Tick).is_empty());
    let timeout =
        Input::ChildClosed { job: 1, error_code: Some(ErrorCode::SourceTimeout), message: None, end: EndKind::Failed };
    assert_eq!(sim.at(30.0, timeout), [format!("CLOSED c1/{ID} SOURCE_TIMEOUT")]);
    assert!(sim.at(30.1, exited(1)).is_empty());
}

#[test]
fn scenario_14_same_encode_start_twice_makes_one_job() {
    let mut sim = Sim::new(cfg(-1));
    assert_eq!(sim.at(0.0, start("c1", ID)), ["SPAWN 1 r0"]);
    assert!(sim.at(0.1, start("c1", ID)).is_empty());
    sim.at(1.0, Input::ChildStarted(1));
    assert_eq!(sim.at(2.0, sim.live(1, "640x360-30")).len(), 1);
    assert!(sim.at(3.0, start("c1", ID)).is_empty());
    assert_eq!(sim.at(5.0, closed(1, None)), [format!("CLOSED c1/{ID}")]);
    sim.at(5.0, exited(1));
    assert!(sim.at(6.0, start("c1", ID)).is_empty(), "closed less than an hour ago");
}

#[test]
fn scenario_15_stop_before_the_source_publishes_closes_at_once() {
    let mut sim = Sim::new(cfg(-1));
    sim.at(0.0, start("c1", ID));
    assert_eq!(sim.at(3.0, stop("c1", ID, None)), ["KILL 1".to_string(), format!("CLOSED c1/{ID}")]);
    assert!(sim.at(3.1, sim.live(1, "640x360-30")).is_empty());
    assert!(sim.at(3.2, crashed(1)).is_empty());
}

fn stop_mid_stream(sim: &mut Sim, grace: Option<u64>) {
    sim.at(0.0, start("c1", ID));
    sim.at(1.0, Input::ChildStarted(1));
    sim.at(2.0, sim.live(1, "640x360-30"));
    assert_eq!(sim.at(10.0, stop("c1", ID, grace)), ["STOP 1 @12"]);
    let late = sim.live(1, "1280x720-30");
    assert_eq!(sim.at(11.0, late), [format!("AVAILABLE c1/{ID} hls/c1/{ID}/1280x720-30/live.m3u8")]);
    assert!(sim.at(12.0, Input::Tick).is_empty(), "the child stops reading by itself");
    assert_eq!(sim.at(12.5, closed(1, None)), [format!("CLOSED c1/{ID}")]);
    assert!(sim.at(12.6, exited(1)).is_empty());
    assert_eq!(sim.next_deadline(), None);
}

#[test]
fn scenario_16_stop_mid_stream_honours_grace_period() {
    stop_mid_stream(&mut Sim::new(cfg(-1)), Some(2));
}

#[test]
fn scenario_16_stop_mid_stream_defaults_to_stop_grace_seconds() {
    let cfg = TableConfig { stop_grace: std::time::Duration::from_secs(2), ..cfg(-1) };
    stop_mid_stream(&mut Sim::new(cfg), None);
}

#[test]
fn scenario_17_empty_stream_id_stops_both_jobs_of_the_channel() {
    let mut sim = Sim::new(cfg(-1));
    sim.at(0.0, start("c1", "s1"));
    sim.at(0.0, start("c1", "s2"));
    sim.at(1.0, Input::ChildStarted(1));
    sim.at(1.0, Input::ChildStarted(2));
    assert_eq!(sim.at(5.0, stop("c1", "", Some(0))), ["STOP 1 @5", "STOP 2 @5"]);
    assert!(sim.at(6.0, closed(1, None)).is_empty(), "s1 is held behind the newer s2");
    assert_eq!(sim.at(6.5, closed(2, None)), ["CLOSED c1/s1", "CLOSED c1/s2"]);
}

#[test]
fn scenario_18_disconnection_changes_nothing_and_messages_stay_in_order() {
    let mut sim = Sim::new(cfg(2));
    assert_eq!(sim.at(0.0, start("c1", ID)), ["SPAWN 1 r0", "REGISTER 1"]);
    sim.at(1.0, Input::ChildStarted(1));
    // The link drops here: the table is not told, the job runs on, its messages are queued.
    let mut queued = sim.at(2.0, sim.live(1, "640x360-30"));
    queued.extend(sim.at(9.0, closed(1, None)));
    let want =
        [format!("AVAILABLE c1/{ID} hls/c1/{ID}/640x360-30/live.m3u8"), format!("CLOSED c1/{ID}"), "REGISTER 2".into()];
    assert_eq!(queued, want);
    assert_eq!(sim.table.register_capacity(), 2, "first frame after reconnecting");
}

#[test]
fn scenario_19_capacity_one_refuses_b_and_reopens_after_a() {
    let mut sim = Sim::new(cfg(1));
    assert_eq!(sim.at(0.0, start("c1", "a")), ["SPAWN 1 r0", "REGISTER 0"]);
    assert_eq!(sim.at(1.0, start("c2", "b")), ["CLOSED c2/b OVER_CAPACITY"]);
    sim.at(2.0, Input::ChildStarted(1));
    assert_eq!(sim.at(9.0, closed(1, None)), ["CLOSED c1/a", "REGISTER 1"]);
}

#[test]
fn scenario_20_path_like_channel_or_id_is_a_bad_job() {
    let mut sim = Sim::new(cfg(-1));
    assert_eq!(sim.at(0.0, start("../x", ID)), [format!("CLOSED ../x/{ID} BAD_JOB")]);
    assert_eq!(sim.at(0.0, start("c1", "a/b")), ["CLOSED c1/a/b BAD_JOB"]);
    assert_eq!(sim.table.active(), 0);
}

#[test]
fn scenario_22_crash_mid_stream_restarts_without_duplicate_announcements() {
    let mut sim = Sim::new(cfg(-1));
    sim.at(0.0, start("c1", ID));
    sim.at(1.0, Input::ChildStarted(1));
    assert_eq!(sim.at(3.0, sim.live(1, "640x360-30")).len(), 1);
    assert!(sim.at(20.0, crashed(1)).is_empty());
    assert_eq!(sim.at(21.0, Input::Tick), ["SPAWN 1 r1"]);
    sim.at(22.0, Input::ChildStarted(1));
    assert!(sim.at(23.0, sim.live(1, "640x360-30")).is_empty());
    assert_eq!(sim.at(40.0, closed(1, None)), [format!("CLOSED c1/{ID}")]);
}

#[test]
fn scenario_24_finishing_a_is_held_until_b_of_the_same_channel_closes() {
    let mut sim = Sim::new(cfg(-1));
    sim.at(0.0, start("c1", "a"));
    sim.at(1.0, Input::ChildStarted(1));
    sim.at(5.0, stop("c1", "a", Some(0)));
    assert_eq!(sim.at(6.0, start("c1", "b")), ["SPAWN 2 r0"]);
    assert!(sim.at(7.0, closed(1, None)).is_empty());
    assert!(sim.at(7.0, exited(1)).is_empty());
    sim.at(8.0, Input::ChildStarted(2));
    assert_eq!(sim.at(8.5, sim.live(2, "640x360-30")), ["AVAILABLE c1/b hls/c1/b/640x360-30/live.m3u8"]);
    assert_eq!(sim.at(60.0, closed(2, None)), ["CLOSED c1/a", "CLOSED c1/b"]);
}

#[test]
fn scenario_24_held_close_is_exempt_from_the_finalize_bound() {
    let mut sim = Sim::new(cfg(-1));
    sim.at(0.0, start("c1", "a"));
    sim.at(1.0, Input::ChildStarted(1));
    sim.at(5.0, stop("c1", "a", Some(0)));
    sim.at(6.0, start("c1", "b"));
    assert_eq!(sim.at(15.0, Input::Tick), ["KILL 1"], "finalize bound reached: killed, close held");
    assert!(sim.at(100.0, Input::Tick).is_empty());
    assert_eq!(sim.at(101.0, stop("c1", "b", None)), ["KILL 2", "CLOSED c1/a PIPELINE_FAILED", "CLOSED c1/b"]);
}

#[test]
fn scenario_25_sigterm_stops_the_job_after_the_shutdown_timeout() {
    let mut sim = Sim::new(cfg(-1));
    sim.at(0.0, start("c1", ID));
    sim.at(1.0, Input::ChildStarted(1));
    assert_eq!(sim.at(10.0, Input::Shutdown), ["REGISTER 0"]);
    assert_eq!(sim.next_deadline(), Some(40.0));
    assert_eq!(sim.at(40.0, Input::Tick), ["STOP 1 @40"]);
    assert_eq!(sim.at(41.0, closed(1, None)), [format!("CLOSED c1/{ID} SHUTDOWN")]);
    assert_eq!(sim.at(41.5, exited(1)), ["EXIT"]);
}

#[test]
fn shutdown_registers_zero_once_and_refuses_new_jobs() {
    let mut sim = Sim::new(cfg(3));
    sim.at(0.0, start("c1", "a"));
    assert_eq!(sim.at(1.0, Input::Shutdown), ["REGISTER 0"]);
    assert_eq!(sim.table.register_capacity(), 0);
    assert_eq!(sim.at(2.0, start("c2", "b")), ["CLOSED c2/b OVER_CAPACITY"]);
    assert_eq!(sim.at(3.0, closed(1, None)), ["CLOSED c1/a"], "no REGISTER after the shutdown one");
    assert_eq!(sim.at(3.5, exited(1)), ["EXIT"], "the last job ended before the timeout");
    assert_eq!(sim.table.register_capacity(), 0);
}

#[test]
fn shutdown_without_jobs_exits_at_once() {
    let mut sim = Sim::new(cfg(-1));
    assert_eq!(sim.at(0.0, Input::Shutdown), ["REGISTER 0", "EXIT"]);
    assert!(sim.at(1.0, Input::Tick).is_empty());
}

#[test]
fn shutdown_timeout_closes_unstarted_and_restarting_jobs_with_shutdown() {
    let mut sim = Sim::new(TableConfig { shutdown_timeout: std::time::Duration::from_secs(5), ..cfg(-1) });
    sim.at(0.0, start("c1", "a"));
    sim.at(0.0, start("c2", "b"));
    sim.at(0.5, Input::ChildStarted(2));
    sim.at(3.0, Input::Shutdown);
    assert!(sim.at(7.5, crashed(2)).is_empty());
    let want = ["KILL 1", "CLOSED c1/a SHUTDOWN", "CLOSED c2/b SHUTDOWN", "EXIT"];
    assert_eq!(sim.at(8.0, Input::Tick), want, "b was waiting to restart; a killed child counts as gone");
    assert!(sim.at(8.1, crashed(1)).is_empty());
}

#[test]
fn second_shutdown_kills_and_closes_everything_then_exits() {
    let mut sim = Sim::new(cfg(-1));
    sim.at(0.0, start("c1", "a"));
    sim.at(0.0, start("c1", "b"));
    sim.at(1.0, Input::ChildStarted(1));
    sim.at(2.0, Input::Shutdown);
    let want = ["KILL 1", "KILL 2", "CLOSED c1/a SHUTDOWN", "CLOSED c1/b SHUTDOWN", "EXIT"];
    assert_eq!(sim.at(3.0, Input::Shutdown), want);
}
