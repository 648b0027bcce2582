//! Stall detection for one child run (coordinator-protocol §9.3: "no output progress for 20 s
//! while input arrives" is a pipeline failure). Sans-IO: events and the clock in, a verdict out.
//!
//! Four cases are told apart with the child's own `alive` reports:
//! - the source is silent: the child ends the run itself after its source timeout (EOF), so
//!   that is not a stall;
//! - input arrives but nothing comes out (an encoder or muxer hangs): a stall after `timeout`;
//! - nothing comes out and the child does not end the run either, past its source timeout
//!   (e.g. the reader blocked behind a hung encoder, so input looks idle too): a stall;
//! - the process says nothing at all, not even `alive`: hung, a stall after `timeout`.

use std::time::{Duration, Instant};

use crate::child_protocol::Event;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StallPolicy {
    /// `HLS_STALL_TIMEOUT_SECONDS`: no output progress for this long while input arrives.
    pub timeout: Duration,
    /// `HLS_SOURCE_TIMEOUT_SECONDS`: after this the child ends a silent source by itself.
    pub source_timeout: Duration,
}

/// What one run has shown of itself so far.
#[derive(Debug)]
pub struct Liveness {
    last_event: Instant,
    /// Set from the run's `started` on: output progress is expected from then.
    last_progress: Option<Instant>,
    /// The latest `alive` report: when it came and how idle the input was then.
    input: Option<(Instant, Duration)>,
    /// Off once the run is finishing (stop requested, or `closed` reported): the table's
    /// finalize timeout bounds that phase.
    watching: bool,
}

impl Liveness {
    pub fn new(now: Instant) -> Self {
        Liveness { last_event: now, last_progress: None, input: None, watching: true }
    }

    pub fn on_event(&mut self, now: Instant, event: &Event) {
        self.last_event = now;
        match event {
            Event::Started { .. } | Event::Progress { .. } | Event::SegmentCut { .. } | Event::Segment { .. } => {
                self.last_progress = Some(now)
            }
            Event::Alive { input_idle_seconds } => {
                let idle = Duration::try_from_secs_f64(*input_idle_seconds).unwrap_or(Duration::MAX);
                self.input = Some((now, idle));
            }
            Event::Finishing { .. } | Event::Closed { .. } => self.watching = false,
            _ => {}
        }
    }

    /// The run was asked to stop: it may legitimately stop producing.
    pub fn finishing(&mut self) {
        self.watching = false;
    }

    /// Why the run counts as stalled at `now`, if it does.
    pub fn stalled(&self, now: Instant, policy: &StallPolicy) -> Option<String> {
        if !self.watching {
            return None;
        }
        let silent = now.saturating_duration_since(self.last_event);
        if silent > policy.timeout {
            return Some(format!("transcode sent nothing for {} s", silent.as_secs()));
        }
        // Before the source opened, the child's own open deadline applies.
        let since_progress = now.saturating_duration_since(self.last_progress?);
        let input_idle = self.input.map(|(at, idle)| idle.saturating_add(now.saturating_duration_since(at)));
        let input_arrives = input_idle.is_some_and(|idle| idle < policy.timeout / 2);
        if since_progress > policy.timeout && input_arrives {
            return Some(format!("input arrives but no output for {} s", since_progress.as_secs()));
        }
        if since_progress > policy.source_timeout + policy.timeout {
            return Some(format!("no output for {} s and the run did not end", since_progress.as_secs()));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: StallPolicy =
        StallPolicy { timeout: Duration::from_secs(20), source_timeout: Duration::from_secs(30) };

    fn at(t0: Instant, s: u64) -> Instant {
        t0 + Duration::from_secs(s)
    }

    fn alive(idle: f64) -> Event {
        Event::Alive { input_idle_seconds: idle }
    }

    fn progress() -> Event {
        Event::Progress { media_seconds: 1.0, frames: 30, speed: 1.0 }
    }

    fn started() -> Event {
        Event::Started {
            channel: "c".into(),
            stream_id: "s".into(),
            source: "x".into(),
            audio: false,
            renditions: vec![],
        }
    }

    #[test]
    fn a_healthy_run_is_never_stalled() {
        let t0 = Instant::now();
        let mut l = Liveness::new(t0);
        l.on_event(t0, &started());
        for s in 1..300 {
            l.on_event(at(t0, s), &alive(0.1));
            l.on_event(at(t0, s), &progress());
            assert_eq!(l.stalled(at(t0, s), &POLICY), None);
        }
    }

    #[test]
    fn input_without_output_is_a_stall_after_the_timeout() {
        let t0 = Instant::now();
        let mut l = Liveness::new(t0);
        l.on_event(t0, &started());
        for s in 1..=21 {
            l.on_event(at(t0, s), &alive(0.2));
        }
        assert_eq!(l.stalled(at(t0, 20), &POLICY), None);
        assert!(l.stalled(at(t0, 21), &POLICY).unwrap().contains("input arrives"));
    }

    #[test]
    fn a_silent_source_is_left_to_the_childs_source_timeout() {
        let t0 = Instant::now();
        let mut l = Liveness::new(t0);
        l.on_event(t0, &started());
        for s in 1..=45 {
            l.on_event(at(t0, s), &alive(s as f64));
            assert_eq!(l.stalled(at(t0, s), &POLICY), None, "{s}");
        }
        // The child should have ended the run at 30 s; at 50 s without an end it is stuck.
        for s in 46..=51 {
            l.on_event(at(t0, s), &alive(s as f64));
        }
        assert!(l.stalled(at(t0, 51), &POLICY).unwrap().contains("did not end"));
    }

    #[test]
    fn a_child_that_says_nothing_is_hung_even_before_its_source_opened() {
        let t0 = Instant::now();
        let l = Liveness::new(t0);
        assert_eq!(l.stalled(at(t0, 20), &POLICY), None);
        assert!(l.stalled(at(t0, 21), &POLICY).unwrap().contains("sent nothing"));
    }

    #[test]
    fn a_finishing_run_is_not_watched() {
        let t0 = Instant::now();
        let mut l = Liveness::new(t0);
        l.on_event(t0, &started());
        l.finishing();
        assert_eq!(l.stalled(at(t0, 100), &POLICY), None);
        let mut l = Liveness::new(t0);
        l.on_event(
            t0,
            &Event::Closed { reason: crate::child_protocol::EndKind::EndOfStream, error_code: None, message: None },
        );
        assert_eq!(l.stalled(at(t0, 100), &POLICY), None);
    }
}
