//! The control session against a strict fake coordinator (spec §13 scenarios 1–4, 18, 21),
//! with timings scaled down: heartbeat 300 ms, read timeout 1 s.

pub mod support;

use std::time::Duration;

use hls_ladder::control::url::control_url;
use hls_ladder::control::{run, ControlError, ErrorCode, Inbound, Outbound, SessionConfig};
use support::fake_coordinator::{FakeCoordinator, Recorded};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

const HEARTBEAT: Duration = Duration::from_millis(300);
const READ_TIMEOUT: Duration = Duration::from_secs(1);
/// Scheduling slack on a shared 2-core machine.
const SLACK: Duration = Duration::from_millis(250);
const WAIT: Duration = Duration::from_secs(5);

struct Worker {
    capacity: watch::Sender<i32>,
    outbound: mpsc::Sender<Outbound>,
    inbound: mpsc::Receiver<Inbound>,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), ControlError>>,
}

impl Worker {
    fn start(base: &str, secret: &str, capacity: i32) -> Worker {
        Self::start_with(base, secret, capacity, Duration::from_secs(2))
    }

    fn start_with(base: &str, secret: &str, capacity: i32, flush: Duration) -> Worker {
        let mut cfg = SessionConfig::new(control_url(base, false).unwrap(), secret);
        cfg.heartbeat = HEARTBEAT;
        cfg.read_timeout = READ_TIMEOUT;
        cfg.dial_timeout = Duration::from_secs(1);
        cfg.flush_timeout = flush;
        let (cap_tx, cap_rx) = watch::channel(capacity);
        let (out_tx, out_rx) = mpsc::channel(64);
        let (in_tx, in_rx) = mpsc::channel(64);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(run(cfg, cap_rx, out_rx, in_tx, shutdown.clone()));
        Worker { capacity: cap_tx, outbound: out_tx, inbound: in_rx, shutdown, task }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let result = tokio::time::timeout(WAIT, self.task).await;
        result.expect("session returns after shutdown").unwrap().unwrap();
    }

    async fn next_inbound(&mut self) -> Inbound {
        tokio::time::timeout(WAIT, self.inbound.recv())
            .await
            .expect("an inbound message in time")
            .expect("session alive")
    }
}

fn closed(id: &str) -> Outbound {
    Outbound::StreamClosed { channel: "c1".into(), stream_id: id.into(), error: None }
}

fn available(id: &str) -> Outbound {
    Outbound::StreamAvailable {
        channel: "c1".into(),
        stream_id: id.into(),
        stream_type: "HLS-LIVE".into(),
        resolution: "640x360-30".into(),
        index_file: format!("hls/c1/{id}/640x360-30/live.m3u8"),
        start_time: None,
    }
}

fn registers(frames: &[Recorded]) -> Vec<String> {
    frames.iter().filter(|f| f.method == "REGISTER").map(|f| f.param("Capacity").unwrap_or("").to_string()).collect()
}

fn job_frames(frames: &[Recorded]) -> Vec<(String, String)> {
    frames
        .iter()
        .filter(|f| f.method.starts_with("STREAM-"))
        .map(|f| (f.method.clone(), f.param("Stream-ID").unwrap_or("").to_string()))
        .collect()
}

fn pair(method: &str, id: &str) -> (String, String) {
    (method.to_string(), id.to_string())
}

async fn wait_for_connections(fake: &FakeCoordinator, n: usize) {
    let ok = fake.wait_for(WAIT, |f| f.iter().filter(|r| r.method == "REGISTER").count() >= n).await;
    assert!(ok, "expected {n} REGISTERs, got {:#?}", fake.frames());
    assert!(fake.connections() >= n);
}

#[tokio::test]
async fn first_frame_is_register_and_heartbeats_keep_their_interval() {
    let fake = FakeCoordinator::start("s", Duration::from_millis(200)).await;
    let worker = Worker::start(&fake.base_url(), "s", -1);
    wait_for_connections(&fake, 1).await;
    tokio::time::sleep(Duration::from_millis(1700)).await;

    let frames = fake.frames_on(0);
    assert_eq!(frames[0].text, "REGISTER\nCapacity:-1\n");
    let mut last = frames[0].at;
    let beats: Vec<_> = frames.iter().filter(|f| f.method == "HEARTBEAT").collect();
    assert!(beats.len() >= 4, "only {} heartbeats", beats.len());
    for beat in beats {
        assert_eq!(beat.text, "HEARTBEAT\n");
        let gap = beat.at - last;
        assert!(gap <= HEARTBEAT + SLACK, "heartbeat gap {gap:?}");
        assert!(gap + Duration::from_millis(50) >= HEARTBEAT, "heartbeat gap {gap:?}");
        last = beat.at;
    }
    assert_eq!(fake.connections(), 1, "the link stayed up");

    let attempt = &fake.attempts()[0];
    let claims = attempt.claims.as_ref().expect("verified claims");
    assert_eq!(claims["sub"], "hls-control");
    assert!(claims["iat"].is_u64() && claims["exp"].is_u64());
    assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 300);
    assert!(claims.get("nbf").is_none());
    worker.stop().await;
    fake.assert_clean();
}

#[tokio::test]
async fn register_carries_the_current_capacity_and_no_secret_means_no_token() {
    let fake = FakeCoordinator::start("", Duration::from_millis(200)).await;
    let worker = Worker::start(&fake.base_url(), "", 4);
    wait_for_connections(&fake, 1).await;
    assert_eq!(fake.frames()[0].text, "REGISTER\nCapacity:4\n");
    assert!(!fake.attempts()[0].had_token);
    worker.stop().await;
    fake.assert_clean();
}

#[tokio::test]
async fn refused_upgrade_is_retried_with_backoff_then_registers() {
    let fake = FakeCoordinator::start("s", Duration::from_millis(200)).await;
    fake.refuse_next(2);
    let worker = Worker::start(&fake.base_url(), "s", -1);
    wait_for_connections(&fake, 1).await;

    let attempts = fake.attempts();
    let statuses: Vec<u16> = attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [403, 403, 101]);
    // Failure n sleeps in [d/2, d] with d = 0.5 s × 2^(n−1).
    let first = attempts[1].at - attempts[0].at;
    let second = attempts[2].at - attempts[1].at;
    let ms = Duration::from_millis;
    assert!(first >= ms(240) && first <= ms(500) + SLACK, "first retry after {first:?}");
    assert!(second >= ms(490) && second <= ms(1000) + SLACK, "second retry after {second:?}");
    assert_eq!(fake.frames()[0].method, "REGISTER");
    worker.stop().await;
    fake.assert_clean();
}

#[tokio::test]
async fn prefix_and_query_of_the_base_url_never_reach_the_request_target() {
    let fake = FakeCoordinator::start("s", Duration::from_millis(200)).await;
    let base = format!("{}/prefix/?x=1", fake.base_url());
    let worker = Worker::start(&base, "s", -1);
    wait_for_connections(&fake, 1).await;
    assert_eq!(fake.attempts()[0].target, "/ws/control/hls");
    worker.stop().await;
    fake.assert_clean();
}

#[tokio::test]
async fn dropped_link_reconnects_registers_then_flushes_queued_messages_in_order() {
    let fake = FakeCoordinator::start("s", Duration::from_millis(200)).await;
    let worker = Worker::start(&fake.base_url(), "s", -1);
    wait_for_connections(&fake, 1).await;
    worker.outbound.send(available("a")).await.unwrap();
    assert!(fake.wait_for(WAIT, |f| job_frames(f).len() == 1).await);

    // Keep the worker out long enough that its messages are produced while disconnected.
    fake.set_refusing(true);
    fake.drop_link();
    let refused = async {
        while !fake.attempts().iter().any(|a| a.status == 403) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(WAIT, refused).await.expect("a redial");
    for msg in [available("b"), closed("a"), closed("b"), closed("c")] {
        worker.outbound.send(msg).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    fake.set_refusing(false);
    wait_for_connections(&fake, 2).await;
    assert!(fake.wait_for(WAIT, |f| job_frames(f).len() >= 5).await);

    let second = fake.frames_on(1);
    assert_eq!(second[0].text, "REGISTER\nCapacity:-1\n");
    assert_eq!(
        job_frames(&second[1..5]),
        [
            pair("STREAM-AVAILABLE", "b"),
            pair("STREAM-CLOSED", "a"),
            pair("STREAM-CLOSED", "b"),
            pair("STREAM-CLOSED", "c"),
        ]
    );
    // Exactly once overall: nothing written to the first connection is repeated.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(job_frames(&fake.frames()).len(), 5);
    worker.stop().await;
    fake.assert_clean();
}

#[tokio::test]
async fn silent_coordinator_is_dropped_after_the_read_timeout_and_redialled() {
    let fake = FakeCoordinator::start("s", Duration::from_millis(200)).await;
    fake.set_silent(true);
    let worker = Worker::start(&fake.base_url(), "s", -1);
    wait_for_connections(&fake, 2).await;

    let regs: Vec<Instant> = fake.frames().iter().filter(|f| f.method == "REGISTER").map(|f| f.at).collect();
    let gap = regs[1] - regs[0];
    // Read timeout, then the first backoff step of at most 0.5 s.
    assert!(gap >= READ_TIMEOUT, "redialled after {gap:?}");
    assert!(gap <= READ_TIMEOUT + Duration::from_millis(500) + SLACK, "redialled after {gap:?}");
    // The worker kept heartbeating meanwhile: the silence is the coordinator's, not ours.
    assert!(fake.frames_on(0).iter().any(|f| f.method == "HEARTBEAT"));
    worker.stop().await;
    fake.assert_clean();
}

#[tokio::test]
async fn capacity_changes_are_coalesced_into_one_new_register() {
    let fake = FakeCoordinator::start("s", Duration::from_millis(200)).await;
    let worker = Worker::start(&fake.base_url(), "s", 2);
    wait_for_connections(&fake, 1).await;

    worker.capacity.send(1).unwrap();
    worker.capacity.send(0).unwrap();
    worker.capacity.send(1).unwrap();
    assert!(fake.wait_for(WAIT, |f| registers(f).len() >= 2).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(registers(&fake.frames()), ["2", "1"]);

    worker.capacity.send(0).unwrap();
    assert!(fake.wait_for(WAIT, |f| registers(f).len() >= 3).await);
    assert_eq!(registers(&fake.frames()), ["2", "1", "0"]);
    assert_eq!(fake.connections(), 1);
    worker.stop().await;
    fake.assert_clean();
}

#[tokio::test]
async fn inbound_commands_are_delivered_typed_and_noise_is_ignored() {
    let fake = FakeCoordinator::start("s", Duration::from_millis(200)).await;
    let mut worker = Worker::start(&fake.base_url(), "s", -1);
    wait_for_connections(&fake, 1).await;

    fake.send_text("FOO\nStream-Channel:x\n");
    fake.send(Message::binary(vec![1u8, 2, 3]));
    let huge = format!("ENCODE-STOP\nStream-Channel:big\nPad:{}\n", "x".repeat(70 * 1024));
    fake.send_text(&huge);
    fake.send_text(
        "encode-start\nstream-channel:c1\nSTREAM-ID:0000018f4a2b3c4d00000007a1b2c3d4\n\
         Stream-Source-Type : RTMP\nStream-Source-URI:rtmp://10.0.0.5:1935/c1/key\n\
         Resolutions:\nRecord :  true \nPreviews:False\n",
    );
    fake.send_text("ENCODE-STOP\nStream-Channel:c1\nStream-ID:\nGrace-Period:2\n");

    let Inbound::EncodeStart(job) = worker.next_inbound().await else {
        panic!("FOO, binary and oversized frames must not be delivered");
    };
    assert_eq!(job.channel, "c1");
    assert_eq!(job.stream_id, "0000018f4a2b3c4d00000007a1b2c3d4");
    assert_eq!(job.source_type, "RTMP");
    assert_eq!(job.source_uri, "rtmp://10.0.0.5:1935/c1/key");
    assert_eq!(job.resolutions, "");
    assert_eq!(job.record, "true");
    assert_eq!(job.previews, "False");
    assert_eq!(
        worker.next_inbound().await,
        Inbound::EncodeStop { channel: "c1".into(), stream_id: String::new(), grace: Some(Duration::from_secs(2)) }
    );
    assert_eq!(fake.connections(), 1, "noise does not break the link");
    worker.stop().await;
    fake.assert_clean();
}

#[tokio::test]
async fn shutdown_flushes_queued_messages_then_closes() {
    let fake = FakeCoordinator::start("s", Duration::from_millis(200)).await;
    let worker = Worker::start(&fake.base_url(), "s", -1);
    wait_for_connections(&fake, 1).await;
    worker.outbound.send(closed("a")).await.unwrap();
    worker
        .outbound
        .send(Outbound::StreamClosed {
            channel: "c1".into(),
            stream_id: "b".into(),
            error: Some((ErrorCode::Shutdown, "stopped\nat shutdown".into())),
        })
        .await
        .unwrap();
    worker.stop().await;
    assert!(fake.wait_for(WAIT, |f| job_frames(f).len() == 2).await);

    let frames = fake.frames();
    let tail: Vec<&str> = frames.iter().map(|f| f.text.as_str()).rev().take(2).collect();
    assert_eq!(
        tail,
        [
            "STREAM-CLOSED\nStream-Channel:c1\nStream-ID:b\nError-Code:SHUTDOWN\n\
             Error-Message:stopped at shutdown\n",
            "STREAM-CLOSED\nStream-Channel:c1\nStream-ID:a\n",
        ]
    );
    fake.assert_clean();
}

#[tokio::test]
async fn shutdown_while_disconnected_redials_to_deliver_the_queue() {
    let fake = FakeCoordinator::start("s", Duration::from_millis(200)).await;
    fake.set_refusing(true);
    let worker = Worker::start(&fake.base_url(), "s", 0);
    worker.outbound.send(closed("a")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    worker.shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(300)).await;
    fake.set_refusing(false);
    tokio::time::timeout(WAIT, worker.task).await.expect("returns within the flush timeout").unwrap().unwrap();
    assert!(fake.wait_for(WAIT, |f| f.len() >= 2).await, "{:#?}", fake.attempts());

    let texts: Vec<String> = fake.frames().into_iter().map(|f| f.text).collect();
    assert_eq!(texts, ["REGISTER\nCapacity:0\n", "STREAM-CLOSED\nStream-Channel:c1\nStream-ID:a\n"]);
    fake.assert_clean();
}

#[tokio::test]
async fn shutdown_gives_up_after_the_flush_timeout_when_unreachable() {
    let fake = FakeCoordinator::start("s", Duration::from_millis(200)).await;
    fake.set_refusing(true);
    let worker = Worker::start_with(&fake.base_url(), "s", -1, Duration::from_millis(800));
    worker.outbound.send(closed("a")).await.unwrap();
    let started = Instant::now();
    worker.shutdown.cancel();
    tokio::time::timeout(WAIT, worker.task).await.expect("returns despite the dead coordinator").unwrap().unwrap();
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(790) && took <= Duration::from_millis(800) + SLACK, "{took:?}");
    assert!(fake.frames().is_empty());
}
