//! Where segments are cut, sans-IO: the one home of the boundary rules (output-layout §5).
//! Every rendition cuts at the same presentation times, on keyframes (invariant 2), from one
//! of two sources:
//! - [`SegmentGrid`]: every `T` on the reference grid, when every rendition is encoded (each
//!   encoder puts an IDR there);
//! - [`KeyframeCuts`]: the source's own keyframes, when ORIGINAL is copied (the reader
//!   announces each boundary to every rendition as a [`Cut`]).
//!
//! A rendition holds its [`Cuts`] and asks it, for each picture, whether it starts a segment.

use std::collections::VecDeque;

use super::clock::{ceil, Q};

/// Segment boundary times: `t_k` = first reference-grid point with `t >= k*T` (k >= 1).
#[derive(Debug, Clone, Copy)]
pub struct SegmentGrid {
    pub rs: Q,
    pub hls_time: i64,
}

impl SegmentGrid {
    pub fn boundary(&self, k: i64) -> Q {
        let index = ceil(Q::from_integer(k * self.hls_time) * self.rs);
        Q::from_integer(index) / self.rs
    }

    /// Number of the segment (from 0) that contains time `t`.
    pub fn segment_at(&self, t: Q) -> i64 {
        // t_k >= k*T, and t_k < k*T + 1/Rs, so start from floor(t/T) and correct once.
        let mut k = (t / self.hls_time).floor().to_integer();
        if k >= 1 && self.boundary(k) > t {
            k -= 1;
        }
        k.max(0)
    }
}

/// A segment boundary chosen by the reader: run-local segment `k` starts at run time `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cut {
    pub k: i64,
    pub at: Q,
}

/// What the reader does with one source video packet while ORIGINAL follows the keyframes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PacketPlan {
    /// Boundaries to announce to every rendition before this packet's picture.
    pub announce: Vec<Cut>,
    /// ORIGINAL stops copying: from this boundary on it is encoded (with a discontinuity).
    pub encode_from: Option<Cut>,
    /// The packet goes to ORIGINAL; `Some(k)` when it starts segment k there.
    pub copy: Option<Option<i64>>,
    /// The run must end at this time: the next boundary is the fragment limit.
    pub stop_at: Option<Q>,
}

/// Where segments are cut while ORIGINAL is copied, sans-IO: boundary k is the first source
/// IDR at least `T` after boundary k−1 (the usual HLS segmenter rule). A keyframe gap longer
/// than `2·T` ends the copying for good: the next boundary is the first reference-grid point
/// after every picture read so far (each rendition's IDR goes there; ORIGINAL is encoded
/// from it), and later boundaries follow every `T` from it.
#[derive(Debug, Clone)]
pub struct KeyframeCuts {
    hls_time: Q,
    rs: Q,
    /// Segments this run may make (the fragment limit): boundary `limit` ends the run.
    limit: Option<i64>,
    /// The boundaries announced so far, newest last (at most the last few matter).
    cuts: Vec<Cut>,
    /// ORIGINAL's first segment has started (its first IDR was copied).
    started: bool,
    last_keyframe: Option<Q>,
    /// Latest presentation time read so far.
    newest: Option<Q>,
    /// Copying ended: packets presented before this time still complete the last copied
    /// segment.
    copy_until: Option<Q>,
    stop_at: Option<Q>,
}

impl KeyframeCuts {
    pub fn new(hls_time: i64, rs: Q, limit: Option<i64>) -> KeyframeCuts {
        KeyframeCuts {
            hls_time: Q::from_integer(hls_time),
            rs,
            limit,
            cuts: vec![Cut { k: 0, at: Q::from_integer(0) }],
            started: false,
            last_keyframe: None,
            newest: None,
            copy_until: None,
            stop_at: None,
        }
    }

    /// Whether ORIGINAL is still copied.
    pub fn copying(&self) -> bool {
        self.copy_until.is_none()
    }

    fn last(&self) -> Cut {
        *self.cuts.last().expect("boundary 0 is always there")
    }

    /// The latest boundary at or before `t`, from boundary 1 on (the renditions' tails must
    /// reach it).
    pub fn last_boundary_before(&self, t: Q) -> Option<Q> {
        self.cuts.iter().rev().find(|c| c.k >= 1 && c.at <= t).map(|c| c.at)
    }

    /// The earliest the next boundary can be: for audio that begins late.
    pub fn next_estimate(&self) -> Cut {
        let last = self.last();
        let newest = self.newest.unwrap_or(last.at);
        Cut { k: last.k + 1, at: self.grid_ceil((last.at + self.hls_time).max(newest)) }
    }

    /// One source video packet presented at run time `t` (on the reference grid); `idr`:
    /// it is an IDR picture; `new_sequence`: with new sequence parameters, which starts a
    /// segment however soon after the last boundary.
    pub fn on_packet(&mut self, t: Q, idr: bool, new_sequence: bool) -> PacketPlan {
        let mut plan = PacketPlan::default();
        self.newest = Some(self.newest.map_or(t, |n| n.max(t)));
        if let Some(until) = self.copy_until {
            // Encoded: keep one boundary announced ahead of the pictures.
            if t >= self.last().at {
                let next = self.last().at + self.hls_time;
                self.cut(self.grid_ceil(next), &mut plan);
            }
            plan.copy = (t < until).then_some(None);
            return plan;
        }
        if idr {
            self.last_keyframe = Some(t);
            if !self.started {
                self.started = true;
                plan.copy = Some(Some(0));
                return plan;
            }
            if t >= self.last().at + self.hls_time || (new_sequence && t > self.last().at) {
                let k = self.last().k + 1;
                if self.cut(t, &mut plan) {
                    plan.copy = Some(Some(k));
                }
                return plan;
            }
        }
        let since = self.last_keyframe.unwrap_or(Q::from_integer(0));
        if t - since > self.hls_time * 2 {
            // Past every picture read so far, so all of them stay in the copied segment.
            let at = (self.newest.expect("set above") * self.rs).floor() + 1;
            let at = at / self.rs;
            self.copy_until = Some(at);
            let k = self.last().k + 1;
            if self.cut(at, &mut plan) {
                plan.encode_from = Some(Cut { k, at });
                let next = self.grid_ceil(at + self.hls_time);
                self.cut(next, &mut plan);
            }
        }
        plan.copy = (self.started && self.stop_at.is_none_or(|s| t < s)).then_some(None);
        plan
    }

    /// Announces the next boundary at `at`, or ends the run there when it is the fragment
    /// limit; `false` when it is the limit.
    fn cut(&mut self, at: Q, plan: &mut PacketPlan) -> bool {
        let k = self.last().k + 1;
        if self.limit.is_some_and(|l| k >= l) {
            if self.stop_at.is_none() {
                self.stop_at = Some(at);
                plan.stop_at = Some(at);
            }
            return false;
        }
        let cut = Cut { k, at };
        self.cuts.push(cut);
        if self.cuts.len() > 4 {
            self.cuts.remove(0);
        }
        plan.announce.push(cut);
        true
    }

    /// The first reference-grid point at or after `t`.
    fn grid_ceil(&self, t: Q) -> Q {
        (t * self.rs).ceil() / self.rs
    }
}

/// Where a rendition starts its segments.
#[derive(Debug, Clone)]
pub enum Cuts {
    /// Every `T` on the reference grid (output-layout §5).
    Grid(SegmentGrid),
    /// Where the reader says ([`RungInput::Boundary`]), oldest first.
    Announced(VecDeque<Cut>),
}

impl Cuts {
    /// The segment a picture at run time `t` starts, if any; `next_k`: the next segment the
    /// rendition has not started yet.
    pub fn starts(&mut self, t: Q, next_k: i64) -> Option<i64> {
        match self {
            Cuts::Grid(grid) => (t >= grid.boundary(next_k.max(1))).then_some(next_k),
            // The latest boundary reached (a copied ORIGINAL that starts encoding has passed
            // every earlier one).
            Cuts::Announced(queue) => {
                let mut k = None;
                while let Some(cut) = queue.front().filter(|c| t >= c.at) {
                    k = Some(cut.k);
                    queue.pop_front();
                }
                k
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(n: i64, d: i64) -> Q {
        Q::new(n, d)
    }

    #[test]
    fn boundaries_follow_the_reference_grid_for_ntsc_rates() {
        let g = SegmentGrid { rs: q(30000, 1001), hls_time: 3 };
        // frame ceil(3 * 29.97) = 90 -> 90 * 1001/30000 = 3.003
        assert_eq!(g.boundary(1), q(3003, 1000));
        assert_eq!(g.boundary(2), q(180 * 1001, 30000));
        let g30 = SegmentGrid { rs: q(30, 1), hls_time: 3 };
        assert_eq!(g30.boundary(4), q(12, 1));
        assert_eq!(g30.segment_at(q(12, 1)), 4);
        assert_eq!(g30.segment_at(q(359, 30)), 3);
        assert_eq!(g.segment_at(q(3, 1)), 0);
        assert_eq!(g.segment_at(q(3003, 1000)), 1);
    }

    /// Frames at 30 fps with an IDR every `gop` frames, fed through the cuts.
    fn feed(cuts: &mut KeyframeCuts, frames: std::ops::Range<i64>, idr: impl Fn(i64) -> bool) -> Vec<PacketPlan> {
        frames.map(|g| cuts.on_packet(q(g, 30), idr(g), false)).collect()
    }

    #[test]
    fn boundaries_follow_the_first_keyframe_at_least_t_after_the_last() {
        // T = 3 s, IDR every 2 s: boundaries at 4, 8, 12 s (2 s is too early, 4 s the first after 3).
        let mut cuts = KeyframeCuts::new(3, q(30, 1), None);
        let plans = feed(&mut cuts, 0..400, |g| g % 60 == 0);
        assert_eq!(plans[0].copy, Some(Some(0)));
        let announced: Vec<_> = plans.iter().flat_map(|p| p.announce.clone()).collect();
        assert_eq!(announced, [Cut { k: 1, at: q(4, 1) }, Cut { k: 2, at: q(8, 1) }, Cut { k: 3, at: q(12, 1) }],);
        assert_eq!(plans[120].copy, Some(Some(1)));
        assert_eq!(plans[60].copy, Some(None));
        assert!(plans.iter().all(|p| p.encode_from.is_none() && p.copy.is_some()));
        assert_eq!(cuts.last_boundary_before(q(11, 1)), Some(q(8, 1)));
    }

    #[test]
    fn a_keyframe_gap_over_twice_t_switches_to_encoding_for_good() {
        // T = 2 s; IDRs every 2 s until 6 s, then none: at 10 s + 1 frame the gap exceeds 4 s.
        let mut cuts = KeyframeCuts::new(2, q(30, 1), None);
        let plans = feed(&mut cuts, 0..600, |g| g % 60 == 0 && g <= 180);
        let switch = plans.iter().position(|p| p.encode_from.is_some()).unwrap();
        assert_eq!(switch, 301);
        let from = plans[switch].encode_from.unwrap();
        // Boundaries 1..3 at 2, 4, 6 s; the switch right after the newest picture read.
        assert_eq!(from, Cut { k: 4, at: q(302, 30) });
        assert!(plans[switch].copy.is_some(), "the packet that reveals the gap is still copied");
        assert!(plans[302..].iter().all(|p| p.copy.is_none()));
        // Then a boundary every T from the switch, announced one ahead.
        let later: Vec<_> = plans[switch..].iter().flat_map(|p| p.announce.clone()).map(|c| (c.k, c.at)).collect();
        assert_eq!(later[..3], [(4, q(302, 30)), (5, q(362, 30)), (6, q(422, 30))]);
        assert!(!cuts.copying());
    }

    #[test]
    fn the_fragment_limit_ends_the_run_at_its_boundary() {
        let mut cuts = KeyframeCuts::new(2, q(30, 1), Some(2));
        let plans = feed(&mut cuts, 0..200, |g| g % 60 == 0);
        assert_eq!(plans[60].announce, [Cut { k: 1, at: q(2, 1) }]);
        assert_eq!(plans[120].stop_at, Some(q(4, 1)));
        assert!(plans[120].announce.is_empty() && plans[120].copy.is_none());
    }

    #[test]
    fn new_sequence_parameters_start_a_segment_at_once() {
        let mut cuts = KeyframeCuts::new(3, q(30, 1), None);
        feed(&mut cuts, 0..31, |g| g == 0);
        let plan = cuts.on_packet(q(31, 30), true, true);
        assert_eq!(plan.announce, [Cut { k: 1, at: q(31, 30) }]);
        assert_eq!(plan.copy, Some(Some(1)));
    }

    #[test]
    fn a_rendition_starts_the_latest_announced_boundary_it_reached() {
        let mut cuts = Cuts::Announced(VecDeque::from([Cut { k: 1, at: q(2, 1) }, Cut { k: 2, at: q(4, 1) }]));
        assert_eq!(cuts.starts(q(1, 1), 1), None);
        assert_eq!(cuts.starts(q(5, 1), 1), Some(2), "a picture past both boundaries starts the later one");
        assert_eq!(cuts.starts(q(6, 1), 3), None);
        let mut grid = Cuts::Grid(SegmentGrid { rs: q(30, 1), hls_time: 2 });
        assert_eq!(grid.starts(q(59, 30), 1), None);
        assert_eq!(grid.starts(q(2, 1), 1), Some(1));
    }
}
