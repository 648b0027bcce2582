//! Randomised runs (seeded, reproducible) checking the guarantees of §9.1 and the capacity rules
//! of §8 under any interleaving of coordinator messages, child events and timers.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::child_protocol::EndKind;
use crate::control::message::{EncodeStartRaw, ErrorCode, Outbound};
use crate::supervisor::{Action, Capacity, Input, JobId, JobTable, TableConfig};
use crate::test_fixtures::Rng;

type Key = (String, String);

/// The table, a model of well-behaved adapters, and every observation needed for the checks.
struct Run {
    table: JobTable,
    rng: Rng,
    now: Instant,
    capacity: i32,
    live: Vec<JobId>,
    killed: HashSet<JobId>,
    names: HashMap<JobId, Key>,
    /// Echoable (channel, id) of every ENCODE-START: each must get exactly one STREAM-CLOSED.
    expected: HashSet<Key>,
    closes: HashMap<Key, u32>,
    announced: HashSet<String>,
    shutting_down: bool,
    registers_while_draining: u32,
    exits: u32,
}

impl Run {
    fn feed(&mut self, input: Input) {
        let exiting = match input {
            Input::ChildExited { job, .. } => Some(job),
            _ => None,
        };
        // Timers fire before the input, so a Kill may still target the child that just exited.
        let actions = self.table.handle(self.now, input);
        // Everything due by now has fired: a deadline left in the past would spin the adapter.
        if let Some(at) = self.table.next_deadline() {
            assert!(at > self.now, "a timer due {:?} ago was left pending", self.now - at);
        }
        self.check_superseded(&actions);
        for action in actions {
            self.check(action);
        }
        if let Some(job) = exiting {
            self.live.retain(|j| *j != job);
            self.killed.remove(&job);
        }
        if self.capacity >= 0 {
            assert!(self.table.active() <= self.capacity as usize, "active above capacity");
        }
    }

    /// Guarantee 5: an accepted job's STREAM-CLOSED goes out only when no newer job of its
    /// channel is open, or in the same batch as the close of the channel's newest job.
    fn check_superseded(&self, actions: &[Action]) {
        let closing: Vec<Key> = (actions.iter())
            .filter_map(|a| match a {
                Action::Send(Outbound::StreamClosed { channel, stream_id, .. }) => {
                    Some((channel.clone(), stream_id.clone()))
                }
                _ => None,
            })
            .collect();
        for key in &closing {
            let Some(job) = self.names.iter().find(|(_, k)| *k == key).map(|(j, _)| *j) else { continue };
            let newest =
                (self.names.iter()).filter(|(_, k)| k.0 == key.0).max_by_key(|(j, _)| **j).map(|(j, k)| (*j, k));
            let Some((newest, newest_key)) = newest.filter(|(j, _)| *j > job) else { continue };
            assert!(
                self.closes.contains_key(newest_key) || closing.contains(newest_key),
                "STREAM-CLOSED of {key:?} (job {job}) while the newer job {newest} of the channel is open"
            );
        }
    }

    fn check(&mut self, action: Action) {
        match action {
            Action::Send(Outbound::StreamClosed { channel, stream_id, .. }) => {
                let count = self.closes.entry((channel, stream_id)).or_default();
                *count += 1;
                assert_eq!(*count, 1, "second STREAM-CLOSED");
            }
            Action::Send(Outbound::StreamAvailable { channel, stream_id, index_file, .. }) => {
                assert!(!self.closes.contains_key(&(channel, stream_id)), "STREAM-AVAILABLE after STREAM-CLOSED");
                assert!(self.announced.insert(index_file), "index announced twice");
            }
            Action::Send(_) => {}
            Action::Register { capacity } => {
                if self.shutting_down {
                    self.registers_while_draining += 1;
                    assert_eq!((capacity, self.registers_while_draining), (0, 1), "only one REGISTER 0 when draining");
                } else {
                    assert!(self.capacity >= 0 && (0..=self.capacity).contains(&capacity), "REGISTER {capacity}");
                }
            }
            Action::Spawn { job, spec, .. } => {
                assert!(!self.live.contains(&job), "second child for one job");
                self.live.push(job);
                self.names.insert(job, (spec.channel, spec.stream_id));
            }
            Action::StopGracefully { job, .. } => assert!(self.live.contains(&job)),
            Action::Kill { job } => {
                assert!(self.live.contains(&job), "kill of a dead child");
                assert!(self.killed.insert(job), "killed twice");
            }
            Action::Exit => {
                assert!(self.shutting_down);
                self.exits += 1;
            }
        }
    }

    fn random_start(&mut self) -> Input {
        let channel = format!("c{}", self.rng.below(3));
        let stream_id = if self.rng.below(30) == 0 { String::new() } else { format!("s{}", self.rng.below(40)) };
        let source_type = if self.rng.below(10) == 0 { "FOO" } else { "WS" };
        if !stream_id.is_empty() {
            self.expected.insert((channel.clone(), stream_id.clone()));
        }
        Input::EncodeStart(EncodeStartRaw {
            source_uri: format!("ws://10.0.0.5:80/{channel}/key"),
            channel,
            stream_id,
            source_type: source_type.into(),
            ..Default::default()
        })
    }

    fn random_child_event(&mut self) -> Option<Input> {
        let job = *self.live.get(self.rng.below(self.live.len().max(1) as u64) as usize)?;
        let (channel, stream_id) = self.names[&job].clone();
        Some(match self.rng.below(10) {
            _ if self.killed.contains(&job) => self.exit(job),
            0..=2 => Input::ChildStarted(job),
            3..=5 => Input::IndexAvailable {
                job,
                stream_type: "HLS-LIVE".into(),
                resolution: "640x360".into(),
                index_file: format!("hls/{channel}/{stream_id}/r{}/live.m3u8", self.rng.below(3)),
                start_time: None,
            },
            6..=7 => {
                let codes = [
                    None,
                    Some(ErrorCode::PipelineFailed),
                    Some(ErrorCode::SourceTimeout),
                    Some(ErrorCode::FragmentLimit),
                ];
                let error_code = self.rng.pick(&codes);
                let end = self.rng.pick(&[EndKind::EndOfStream, EndKind::Failed, EndKind::Stopped]);
                // A run reports its end as `finishing` (pipeline done), then as `closed`.
                if self.rng.below(2) == 0 {
                    Input::ChildFinishing { job, error_code, message: None, end }
                } else {
                    Input::ChildClosed { job, error_code, message: None, end }
                }
            }
            _ => self.exit(job),
        })
    }

    fn exit(&mut self, job: JobId) -> Input {
        Input::ChildExited { job, crashed: self.rng.below(2) == 0, stderr_tail: Vec::new() }
    }

    fn step(&mut self) {
        self.now += Duration::from_millis(self.rng.below(4000));
        let input = match self.rng.below(100) {
            0..=19 => self.random_start(),
            20..=27 => {
                let stream_id = if self.rng.below(3) == 0 { String::new() } else { format!("s{}", self.rng.below(40)) };
                let grace = self.rng.pick(&[None, Some(0), Some(2), Some(60)]).map(Duration::from_secs);
                Input::EncodeStop { channel: format!("c{}", self.rng.below(3)), stream_id, grace }
            }
            28..=79 => self.random_child_event().unwrap_or(Input::Tick),
            _ => Input::Tick,
        };
        self.feed(input);
    }

    fn shut_down(&mut self) {
        self.shutting_down = true;
        self.feed(Input::Shutdown);
    }

    /// Children finish or exit, timers fire, until the table says Exit.
    fn drain(&mut self) {
        for _ in 0..10_000 {
            if self.exits > 0 {
                return;
            }
            match self.table.next_deadline() {
                Some(at) if self.live.is_empty() || self.rng.below(3) == 0 => {
                    self.now = self.now.max(at);
                    self.feed(Input::Tick);
                }
                _ => match self.random_child_event() {
                    Some(input) => self.feed(input),
                    None => panic!("stuck: no child, no timer, no Exit"),
                },
            }
        }
        panic!("no Exit after draining");
    }
}

fn run(seed: u64) {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let capacity = rng.pick(&[-1, 0, 1, 3]);
    let cfg = TableConfig {
        capacity: Capacity::jobs(capacity),
        restart_max: rng.pick(&[0, 1, 3]) as u32,
        ..crate::config::default_table_config()
    };
    let mut run = Run {
        table: JobTable::new(cfg),
        rng,
        now: Instant::now(),
        capacity,
        live: Vec::new(),
        killed: HashSet::new(),
        names: HashMap::new(),
        expected: HashSet::new(),
        closes: HashMap::new(),
        announced: HashSet::new(),
        shutting_down: false,
        registers_while_draining: 0,
        exits: 0,
    };
    let shutdown_at = run.rng.pick(&[100, 200, 300]);
    for n in 0..300 {
        if n == shutdown_at {
            run.shut_down();
        }
        run.step();
    }
    if !run.shutting_down {
        run.shut_down();
    }
    run.drain();
    assert_eq!(run.exits, 1);
    assert_eq!(run.table.active(), 0);
    let closed: HashSet<Key> = run.closes.keys().cloned().collect();
    assert_eq!(closed, run.expected, "exactly one STREAM-CLOSED per usable ENCODE-START");
}

#[test]
fn every_interleaving_keeps_the_stream_guarantees() {
    for seed in 0..300 {
        let result = std::panic::catch_unwind(|| run(seed));
        assert!(result.is_ok(), "seed {seed} failed");
    }
}
