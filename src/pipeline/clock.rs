//! Media time, sans-IO: maps input timestamps onto the reference frame grid and decides
//! where segments start and which output slots each rendition fills.
//!
//! Everything here is exact rational arithmetic (output-layout §3, §5). The reference grid
//! is `i / Rs` from the first decoded video frame of the run; each rendition emits one
//! frame per slot of its own grid `s / r` (constant frame rate), dropping or repeating
//! source frames as needed.

use num_rational::Ratio;

pub type Q = Ratio<i64>;

/// `t` as a float, for logs and progress only (the pipeline computes in exact rationals).
pub fn to_f64(t: Q) -> f64 {
    *t.numer() as f64 / *t.denom() as f64
}

/// Largest forward jump in input timestamps that is bridged by repeating frames. A longer
/// jump (a publisher that restarted its clock, a corrupt timestamp) rebases the clock
/// instead, so one bad timestamp cannot make us encode hours of duplicate frames.
const MAX_BRIDGED_GAP_SECONDS: i64 = 10;
/// Largest backward step treated as jitter (the frame is dropped); a longer one rebases.
const MAX_BACKWARD_SECONDS: i64 = 1;

/// Maps source video timestamps to indices on the reference grid, monotonically.
#[derive(Debug, Clone)]
pub struct SourceClock {
    rs: Q,
    time_base: Q,
    /// pts of the first frame of the run, after rebasing: index = round((pts-origin)*tb*rs) + shift.
    origin: Option<i64>,
    shift: i64,
    last: Option<i64>,
}

impl SourceClock {
    pub fn new(rs: Q, time_base: Q) -> Self {
        SourceClock { rs, time_base, origin: None, shift: 0, last: None }
    }

    pub fn rate(&self) -> Q {
        self.rs
    }

    /// Whether the run's first frame was seen.
    pub fn started(&self) -> bool {
        self.origin.is_some()
    }

    /// The reference-grid index of a frame, or `None` when the frame must be dropped
    /// (it falls on a grid point already taken: denser than the grid, or small jitter back).
    pub fn index(&mut self, pts: Option<i64>) -> Option<i64> {
        let Some(pts) = pts else {
            // No timestamp: assume the frame follows the previous one on the grid.
            let next = self.last.map_or(0, |l| l + 1);
            self.last = Some(next);
            return Some(next);
        };
        let origin = *self.origin.get_or_insert(pts);
        let raw = round_half_up(Q::from_integer(pts - origin) * self.time_base * self.rs) + self.shift;
        let Some(last) = self.last else {
            self.last = Some(raw);
            return Some(raw);
        };
        let gap_limit = (self.rs * MAX_BRIDGED_GAP_SECONDS).to_integer();
        let back_limit = (self.rs * MAX_BACKWARD_SECONDS).to_integer().max(1);
        if raw > last + gap_limit || raw < last - back_limit {
            // Discontinuity in the input clock: continue right after the last frame.
            self.shift += last + 1 - raw;
            self.last = Some(last + 1);
            return Some(last + 1);
        }
        if raw <= last {
            return None;
        }
        self.last = Some(raw);
        Some(raw)
    }

    /// The input skips `seconds` of media (GOPs dropped to catch up with a live source):
    /// frames after the gap continue right after the last one instead of leaving a hole.
    pub fn skip(&mut self, seconds: Q) {
        self.shift -= round_half_up(seconds * self.rs).max(0);
    }

    /// Where a source timestamp lies on the reference grid as [`Self::index`] would place it
    /// now, in seconds from the start of the run, without taking its grid point; `None`
    /// before the first frame. For packets that are copied rather than decoded.
    pub fn place(&self, pts: i64) -> Option<Q> {
        let origin = self.origin?;
        let raw = round_half_up(Q::from_integer(pts - origin) * self.time_base * self.rs) + self.shift;
        Some(Q::from_integer(raw) / self.rs)
    }

    /// Seconds from the start of the run to grid index `g`.
    pub fn time_of(&self, g: i64) -> Q {
        Q::from_integer(g) / self.rs
    }

    /// Seconds from the start of the run for an absolute stream time in seconds (e.g. an
    /// audio timestamp), including any rebasing so far; `None` before the first video frame.
    pub fn seconds_since_start(&self, absolute: Q) -> Option<Q> {
        let origin = Q::from_integer(self.origin?) * self.time_base;
        Some(absolute - origin + Q::from_integer(self.shift) / self.rs)
    }
}

/// One rendition's constant-frame-rate grid: which output slots a source frame fills.
#[derive(Debug, Clone)]
pub struct SlotGrid {
    rate: Q,
    rs: Q,
    next_slot: i64,
}

/// What a rendition should encode for one incoming source frame.
#[derive(Debug, PartialEq, Eq)]
pub struct SlotPlan {
    /// Slots to fill with the previously emitted picture (a gap in the input).
    pub repeat_previous: std::ops::Range<i64>,
    /// The slot this frame fills, or `None` when the frame is dropped.
    pub slot: Option<i64>,
}

impl SlotGrid {
    pub fn new(rate: Q, rs: Q) -> Self {
        SlotGrid { rate, rs, next_slot: 0 }
    }

    pub fn rate(&self) -> Q {
        self.rate
    }

    pub fn next_slot(&self) -> i64 {
        self.next_slot
    }

    pub fn slot_time(&self, slot: i64) -> Q {
        Q::from_integer(slot) / self.rate
    }

    /// The slot a reference-grid index falls in: floor(g * r / Rs). For r = Rs/d this keeps
    /// every d-th source frame exactly.
    fn slot_of(&self, g: i64) -> i64 {
        (Q::from_integer(g) * self.rate / self.rs).floor().to_integer()
    }

    pub fn plan(&mut self, g: i64) -> SlotPlan {
        let slot = self.slot_of(g);
        if slot < self.next_slot {
            return SlotPlan { repeat_previous: 0..0, slot: None };
        }
        let repeat = if self.next_slot == 0 { 0..0 } else { self.next_slot..slot };
        self.next_slot = slot + 1;
        SlotPlan { repeat_previous: repeat, slot: Some(slot) }
    }

    /// Slots still to fill with the last picture at the end of the run so that the
    /// rendition covers `[0, end)` and reaches every boundary up to `last_boundary`.
    pub fn tail(&mut self, end: Q, last_boundary: Option<Q>) -> std::ops::Range<i64> {
        let from = self.next_slot;
        let mut to = from;
        while self.slot_time(to) < end {
            to += 1;
        }
        if let Some(boundary) = last_boundary {
            while to == 0 || self.slot_time(to - 1) < boundary {
                to += 1;
            }
        }
        self.next_slot = to;
        from..to
    }
}

fn round_half_up(q: Q) -> i64 {
    (q + Q::new(1, 2)).floor().to_integer()
}

pub(super) fn ceil(q: Q) -> i64 {
    q.ceil().to_integer()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(n: i64, d: i64) -> Q {
        Q::new(n, d)
    }

    #[test]
    fn millisecond_rtmp_timestamps_land_on_the_30fps_grid() {
        let mut c = SourceClock::new(q(30, 1), q(1, 1000));
        let got: Vec<_> = [1000, 1033, 1067, 1100, 1133].iter().map(|&p| c.index(Some(p))).collect();
        assert_eq!(got, vec![Some(0), Some(1), Some(2), Some(3), Some(4)]);
    }

    #[test]
    fn duplicate_and_slightly_backward_timestamps_are_dropped() {
        let mut c = SourceClock::new(q(30, 1), q(1, 1000));
        assert_eq!(c.index(Some(0)), Some(0));
        assert_eq!(c.index(Some(33)), Some(1));
        assert_eq!(c.index(Some(33)), None);
        assert_eq!(c.index(Some(10)), None);
        assert_eq!(c.index(Some(67)), Some(2));
    }

    #[test]
    fn a_copied_packet_is_placed_where_its_decoded_picture_lands() {
        let mut c = SourceClock::new(q(30, 1), q(1, 1000));
        assert_eq!(c.place(1000), None);
        c.index(Some(1000));
        assert_eq!(c.place(1067), Some(q(2, 30)));
        assert_eq!(c.index(Some(1067)), Some(2));
    }

    #[test]
    fn a_timestamp_reset_rebases_instead_of_stalling() {
        let mut c = SourceClock::new(q(30, 1), q(1, 1000));
        c.index(Some(500_000));
        c.index(Some(500_033));
        assert_eq!(c.index(Some(0)), Some(2));
        assert_eq!(c.index(Some(33)), Some(3));
    }

    #[test]
    fn a_huge_forward_jump_rebases_but_a_short_gap_is_kept() {
        let mut c = SourceClock::new(q(30, 1), q(1, 1000));
        c.index(Some(0));
        assert_eq!(c.index(Some(2000)), Some(60));
        assert_eq!(c.index(Some(3_600_000)), Some(61));
    }

    #[test]
    fn decimation_by_two_keeps_every_other_frame() {
        let mut s = SlotGrid::new(q(30000, 1001), q(60000, 1001));
        let kept: Vec<_> = (0..6).map(|g| s.plan(g).slot).collect();
        assert_eq!(kept, vec![Some(0), None, Some(1), None, Some(2), None]);
    }

    #[test]
    fn a_gap_repeats_the_previous_picture() {
        let mut s = SlotGrid::new(q(30, 1), q(30, 1));
        s.plan(0);
        s.plan(1);
        let p = s.plan(4);
        assert_eq!(p, SlotPlan { repeat_previous: 2..4, slot: Some(4) });
    }

    #[test]
    fn tail_covers_the_end_and_every_boundary() {
        // 15 fps rung, source 30 fps ends with frame 90 (t = 3.0 = boundary 1).
        let mut s = SlotGrid::new(q(15, 1), q(30, 1));
        for g in 0..=90 {
            s.plan(g);
        }
        assert_eq!(s.next_slot(), 46);
        let tail = s.tail(q(91, 30), Some(q(3, 1)));
        assert_eq!(tail, 46..46);
        // A 14 fps rung whose grid misses 3.0 must still reach boundary 1.
        let mut s = SlotGrid::new(q(14, 1), q(30, 1));
        for g in 0..=90 {
            s.plan(g);
        }
        let tail = s.tail(q(91, 30), Some(q(3, 1)));
        assert!(s.slot_time(tail.end - 1) >= q(3, 1), "{tail:?}");
    }
}
