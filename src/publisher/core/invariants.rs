//! Randomised runs (seeded, reproducible) of the publisher core against a model of storage
//! that completes puts in any order and fails some of them. After every step they check
//! DESIGN invariant 1 (nothing is listed or announced before it is durable), the order and
//! uniqueness of publication, and invariant 4 (a recorded group whose segments were all
//! stored is never skipped).

use std::collections::{BTreeSet, HashMap, HashSet};

use bytes::Bytes;

use super::tests::{rendition, segment, settings};
use super::{Action, Input, Op, PublisherCore, Retry};
use crate::child_protocol::Event;
use crate::test_fixtures::Rng;

struct Pending {
    op: Op,
    path: String,
    body: Bytes,
    retry: Retry,
}

struct Run {
    core: PublisherCore,
    rng: Rng,
    record: bool,
    renditions: usize,
    groups: u64,
    /// Next segment number each rendition's encoder produces.
    produced: Vec<u64>,
    pending: Vec<Pending>,
    durable: HashSet<String>,
    /// Groups with a segment the pipeline dropped or storage refused.
    lost: HashSet<u64>,
    published: Vec<u64>,
    skipped: Vec<u64>,
    previews_made: u64,
    /// Last content that storage accepted, per path.
    stored: HashMap<String, String>,
}

impl Run {
    fn new(seed: u64) -> Run {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let record = rng.below(2) == 0;
        let renditions = 1 + rng.below(3) as usize;
        let live_size = 1 + rng.below(4) as u32;
        let mut core = PublisherCore::new(settings(record, live_size), 1_700_000_000_000);
        let ladder: Vec<_> =
            (0..renditions).map(|i| rendition(&format!("{}x{}-30", 640 + 2 * i, 360), 640, 360)).collect();
        core.handle(Input::Ladder { renditions: ladder, audio: false, source: "model".into(), now_ms: 0 });
        let groups = 2 + rng.below(12);
        Run {
            core,
            rng,
            record,
            renditions,
            groups,
            produced: vec![0; renditions],
            pending: Vec::new(),
            durable: HashSet::new(),
            lost: HashSet::new(),
            published: Vec::new(),
            skipped: Vec::new(),
            previews_made: 0,
            stored: HashMap::new(),
        }
    }

    fn feed(&mut self, input: Input) {
        for action in self.core.handle(input) {
            match action {
                Action::Put { op, path, body, retry } => {
                    if path.ends_with(".m3u8") {
                        self.check_listed_segments_are_durable(&path, &body);
                    }
                    if path.ends_with("index.json") {
                        self.check_counted_previews_are_durable(&path, &body);
                        self.check_the_durable_track_lists_what_the_index_counts(&path, &body);
                    }
                    if path.ends_with("thumbnails.vtt") {
                        self.check_tracked_previews_are_durable(&path, &body);
                    }
                    self.pending.push(Pending { op, path, body, retry });
                }
                Action::Delete { path } => {
                    self.durable.remove(&path);
                }
                Action::Emit(Event::IndexAvailable { index_file, .. }) => {
                    assert!(self.durable.contains(&index_file), "{index_file} announced before it was durable");
                }
                Action::Emit(Event::Segment { group, .. }) => {
                    assert!(self.published.last().is_none_or(|&last| group.n > last), "published out of order");
                    assert!(!self.skipped.contains(&group.n), "group {} published after its skip", group.n);
                    self.published.push(group.n);
                }
                Action::Emit(Event::SegmentSkipped { n, .. }) => {
                    assert!(!self.published.contains(&n) && !self.skipped.contains(&n), "group {n} decided twice");
                    self.skipped.push(n);
                }
                Action::Emit(_) => {}
                Action::HoldForPush { .. } => unreachable!("the model runs without the CDN push"),
                Action::Append { .. } => unreachable!("the model runs without LL-HLS parts"),
            }
        }
    }

    /// Invariant 1: a playlist is written only with segments that are durable.
    fn check_listed_segments_are_durable(&self, path: &str, body: &Bytes) {
        let dir = &path[..path.rfind('/').expect("a directory") + 1];
        for line in String::from_utf8_lossy(body).lines().filter(|l| l.ends_with(".ts")) {
            let segment = format!("{dir}{line}");
            assert!(self.durable.contains(&segment), "{path} lists {line}, which is not durable");
        }
    }

    fn check_counted_previews_are_durable(&self, path: &str, body: &Bytes) {
        let text = String::from_utf8_lossy(body);
        let count: u64 = text.split("\"count\":").nth(1).and_then(|r| r.split(',').next()).unwrap().parse().unwrap();
        let dir = &path[..path.rfind('/').unwrap() + 1];
        for n in 0..count {
            assert!(self.durable.contains(&format!("{dir}{n}.jpg")), "index counts {n}.jpg before it is durable");
        }
    }

    /// The thumbnail track lists only durable images, consecutive from `0.jpg`.
    fn check_tracked_previews_are_durable(&self, path: &str, body: &Bytes) {
        let dir = &path[..path.rfind('/').unwrap() + 1];
        let text = String::from_utf8_lossy(body);
        for (n, line) in text.lines().filter(|l| l.ends_with(".jpg")).enumerate() {
            assert_eq!(line, format!("{n}.jpg"), "{path}");
            assert!(self.durable.contains(&format!("{dir}{line}")), "the track lists {line} before it is durable");
        }
    }

    /// `index.json` never counts an image the durable track does not list yet.
    fn check_the_durable_track_lists_what_the_index_counts(&self, path: &str, body: &Bytes) {
        let text = String::from_utf8_lossy(body);
        let count: usize = text.split("\"count\":").nth(1).and_then(|r| r.split(',').next()).unwrap().parse().unwrap();
        let track = path.replace("index.json", "thumbnails.vtt");
        let listed = self.stored.get(&track).map_or(0, |t| t.lines().filter(|l| l.ends_with(".jpg")).count());
        assert!(listed >= count, "index.json counts {count} images, the durable track lists {listed}");
    }

    /// One random thing happens: the pipeline produces or drops, or storage answers a put.
    fn step(&mut self) -> bool {
        let can_produce: Vec<usize> = (0..self.renditions).filter(|&r| self.produced[r] < self.groups).collect();
        let choice = self.rng.below(10);
        if !can_produce.is_empty() && (choice < 4 || self.pending.is_empty()) {
            let rung = can_produce[self.rng.below(can_produce.len() as u64) as usize];
            let n = self.produced[rung];
            self.produced[rung] += 1;
            if self.rng.below(15) == 0 {
                self.lost.insert(n);
                self.feed(Input::SegmentDropped { n });
            } else {
                self.feed(segment(rung, n));
            }
            if rung == 0 && self.rng.below(3) == 0 {
                let n = self.previews_made;
                self.previews_made += 1;
                self.feed(Input::Preview { n, jpeg: Bytes::from(format!("jpeg {n}")) });
            }
            if self.produced.iter().all(|&p| p == self.groups) {
                self.feed(Input::PipelineDone);
            }
            return true;
        }
        if self.pending.is_empty() {
            return false;
        }
        let p = self.pending.swap_remove(self.rng.below(self.pending.len() as u64) as usize);
        // A put retried while the stream runs fails only for an error that cannot heal.
        let fail_one_in = if p.retry == Retry::WhileRunning { 40 } else { 6 };
        let ok = self.rng.below(fail_one_in) != 0;
        if ok {
            self.durable.insert(p.path.clone());
            self.stored.insert(p.path.clone(), String::from_utf8_lossy(&p.body).into_owned());
        } else if let Op::Segment { n, .. } = p.op {
            self.lost.insert(n);
        }
        self.feed(Input::Stored { op: p.op, ok });
        true
    }

    fn check_end(&self, seed: u64) {
        assert!(self.core.is_finished(), "seed {seed}: not finished");
        let decided: BTreeSet<u64> = self.published.iter().chain(&self.skipped).copied().collect();
        assert_eq!(decided, (0..self.groups).collect(), "seed {seed}: every group decided once");
        for n in &self.skipped {
            assert!(self.lost.contains(n), "seed {seed}: group {n} skipped although every segment was stored");
        }
        if self.record {
            for n in 0..self.groups {
                assert!(self.lost.contains(&n) || self.published.contains(&n), "seed {seed}: recorded group {n} lost");
            }
        }
    }
}

#[test]
fn random_interleavings_never_list_or_announce_what_is_not_durable() {
    for seed in 0..400 {
        let mut run = Run::new(seed);
        let mut steps = 0;
        while run.step() {
            steps += 1;
            assert!(steps < 100_000, "seed {seed}: no progress");
        }
        run.check_end(seed);
    }
}
