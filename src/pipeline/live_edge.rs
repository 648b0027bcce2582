//! The input's last resort under overload (sans-IO): when a live source's packets are read
//! more than `HLS_DROP_BEHIND_SECONDS` after they were sent, the pipeline is hopelessly
//! behind: the reader drops whole GOPs (every packet, undecoded, up to a video keyframe) until
//! it is back at the live edge, and the output timeline continues without the gap.
//!
//! Every other queue is bounded and blocks instead (rendition queues of 3 pictures, the audio
//! packets of one read, the upload queue by bytes), so when encoders fall behind the backlog
//! piles up in the socket and the ingest server, which bounds it itself (nginx-rtmp drops
//! frames of a player that does not read). Dropping here is what brings a stream back to
//! live instead of staying minutes behind.
//!
//! *How far behind*: the wall time since the first packet minus the media time since it.
//! A live source sends in real time, so this stays near zero while the pipeline keeps up.

use std::time::{Duration, Instant};

/// What to do with a packet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    Keep,
    /// Dropped undecoded (a GOP being skipped). `started`: the first one of a drop, which is
    /// `behind` seconds late.
    Drop {
        started: Option<f64>,
    },
    /// The first packet kept after a drop (a video keyframe): `skipped` seconds of media were
    /// dropped, and the output timeline must close that gap.
    Resume {
        skipped: f64,
    },
}

#[derive(Debug)]
pub struct LiveEdge {
    /// `None`: measure only, never drop.
    limit: Option<Duration>,
    /// Resume once this close to the live edge.
    near: Duration,
    /// (wall, media seconds) of the reference packet.
    origin: Option<(Instant, f64)>,
    /// While dropping: media time of the first dropped packet, and how late it was.
    dropping: Option<(f64, f64)>,
    /// How late the newest video packet was read, seconds.
    behind: f64,
}

impl LiveEdge {
    /// `limit`: how late a packet may be before GOPs are dropped; `near`: how close to live
    /// reading must be to resume (one segment duration).
    pub fn new(limit: Option<Duration>, near: Duration) -> LiveEdge {
        let near = limit.map_or(near, |l| near.min(l / 2));
        LiveEdge { limit, near, origin: None, dropping: None, behind: 0.0 }
    }

    /// How late the newest video packet was read, seconds (the overload governor's signal).
    pub fn behind_seconds(&self) -> f64 {
        self.behind
    }

    /// Seconds the packet at `media` (seconds, source clock) is read after it was sent.
    fn behind(&mut self, now: Instant, media: f64) -> f64 {
        let (wall0, media0) = *self.origin.get_or_insert((now, media));
        now.saturating_duration_since(wall0).as_secs_f64() - (media - media0)
    }

    /// A video packet: its media time and whether it starts a GOP.
    pub fn video(&mut self, now: Instant, media: f64, keyframe: bool) -> Verdict {
        let behind = self.behind(now, media);
        self.behind = behind;
        match self.dropping {
            None if self.limit.is_some_and(|l| behind > l.as_secs_f64()) => {
                self.dropping = Some((media, behind));
                Verdict::Drop { started: Some(behind) }
            }
            None => Verdict::Keep,
            Some((from, late)) => {
                let skipped = media - from;
                // Near the live edge again, or as much media skipped as it was behind (a
                // source whose clock runs slow never gets "near" by its own timestamps).
                let caught_up = behind <= self.near.as_secs_f64() || skipped >= late;
                if keyframe && caught_up {
                    self.dropping = None;
                    // Measure from here: the source's clock drift so far is forgiven.
                    self.origin = Some((now, media));
                    Verdict::Resume { skipped: skipped.max(0.0) }
                } else {
                    Verdict::Drop { started: None }
                }
            }
        }
    }

    /// Audio and other packets go while video is being dropped.
    pub fn dropping(&self) -> bool {
        self.dropping.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pipeline_that_keeps_up_keeps_everything() {
        let mut e = LiveEdge::new(Some(Duration::from_secs(30)), Duration::from_secs(2));
        let t0 = Instant::now();
        for i in 0..3000 {
            let t = i as f64 / 30.0;
            let now = t0 + Duration::from_secs_f64(t + 0.5);
            assert_eq!(e.video(now, 100.0 + t, i % 60 == 0), Verdict::Keep);
        }
    }

    #[test]
    fn a_hopeless_backlog_is_dropped_gop_by_gop_until_the_live_edge() {
        let mut e = LiveEdge::new(Some(Duration::from_secs(10)), Duration::from_secs(2));
        let t0 = Instant::now();
        assert_eq!(e.video(t0, 0.0, true), Verdict::Keep);
        // The reader was blocked: at wall 40 s it reads media from 29 s on, 11 s late.
        let at = |s: f64| t0 + Duration::from_secs_f64(s);
        assert_eq!(e.video(at(40.0), 29.0, false), Verdict::Drop { started: Some(11.0) });
        assert!(e.dropping());
        // The backlog goes by fast; keyframes are still too late until 38.5 (1.9 s late).
        assert_eq!(e.video(at(40.1), 30.0, true), Verdict::Drop { started: None });
        assert_eq!(e.video(at(40.2), 36.0, true), Verdict::Drop { started: None });
        assert_eq!(e.video(at(40.3), 37.0, false), Verdict::Drop { started: None });
        assert_eq!(e.video(at(40.4), 38.0, true), Verdict::Drop { started: None });
        match e.video(at(40.4), 38.5, true) {
            Verdict::Resume { skipped } => assert!((skipped - 9.5).abs() < 1e-9, "{skipped}"),
            v => panic!("{v:?}"),
        }
        assert!(!e.dropping());
        assert_eq!(e.video(at(40.5), 38.6, false), Verdict::Keep);
    }

    #[test]
    fn a_slow_source_clock_resumes_once_as_much_was_skipped_as_it_was_behind() {
        let mut e = LiveEdge::new(Some(Duration::from_secs(10)), Duration::from_secs(2));
        let t0 = Instant::now();
        e.video(t0, 0.0, true);
        // Timestamps run at 80 % of real time: at 60 s wall the media says 48 s (12 s "late").
        let slow = |wall: f64| (t0 + Duration::from_secs_f64(wall), wall * 0.8);
        let (now, media) = slow(60.0);
        assert_eq!(e.video(now, media, false), Verdict::Drop { started: Some(12.0) });
        let mut resumed = None;
        for i in 1..100 {
            let (now, media) = slow(60.0 + i as f64 * 0.5);
            if let Verdict::Resume { skipped } = e.video(now, media, i % 4 == 0) {
                resumed = Some(skipped);
                break;
            }
        }
        assert!(resumed.is_some_and(|s| s >= 12.0), "{resumed:?}");
    }
}
