//! Reconnect delays (spec §7.1), with no I/O: the caller sleeps.

use std::time::Duration;

use rand::Rng;

/// A connection that stayed up this long was healthy: its loss starts a new streak.
pub const STABLE_UPTIME: Duration = Duration::from_secs(60);
/// Jitter of the immediate retry after losing a healthy connection.
const IMMEDIATE_JITTER: Duration = Duration::from_millis(250);
const BASE: Duration = Duration::from_millis(500);
const CAP: Duration = Duration::from_secs(10);

/// Counts consecutive failures and turns each into a randomised delay.
#[derive(Debug, Clone, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    pub fn new() -> Self {
        Self::default()
    }

    /// Consecutive failures counted so far (0 right after a healthy connection was lost).
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Records one failure and returns how long to wait before the next dial.
    ///
    /// `uptime` is how long the lost connection had been up; zero when the dial itself failed.
    /// After a healthy connection the retry is immediate (0–250 ms, so a fleet of workers does
    /// not redial in lockstep); otherwise the n-th consecutive failure sleeps uniformly in
    /// `[d/2, d]` with `d = min(10 s, 0.5 s × 2^(n−1))`.
    pub fn next_delay(&mut self, uptime: Duration, rng: &mut impl Rng) -> Duration {
        if uptime >= STABLE_UPTIME {
            self.failures = 0;
            return rng.random_range(Duration::ZERO..=IMMEDIATE_JITTER);
        }
        self.failures = self.failures.saturating_add(1);
        let d = ceiling(self.failures);
        rng.random_range(d / 2..=d)
    }
}

/// `min(10 s, 0.5 s × 2^(n−1))` for the n-th consecutive failure.
fn ceiling(n: u32) -> Duration {
    // 0.5 s × 2^5 already exceeds the cap; larger shifts would only overflow.
    let doublings = n.saturating_sub(1).min(5);
    (BASE * (1 << doublings)).min(CAP)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn delays_double_from_half_a_second_up_to_ten() {
        let expected = [500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000];
        for (i, want) in expected.iter().enumerate() {
            assert_eq!(ceiling(i as u32 + 1), ms(*want), "failure {}", i + 1);
        }
        assert_eq!(ceiling(u32::MAX), ms(10_000));
    }

    #[test]
    fn every_delay_lies_between_half_and_full_ceiling() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..200 {
            let mut b = Backoff::new();
            for n in 1..=12u32 {
                let d = b.next_delay(Duration::ZERO, &mut rng);
                let top = ceiling(n);
                assert!(d >= top / 2 && d <= top, "failure {n}: {d:?}");
                assert_eq!(b.failures(), n);
            }
        }
    }

    #[test]
    fn losing_a_healthy_connection_retries_at_once_and_resets_the_streak() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut b = Backoff::new();
        for _ in 0..6 {
            b.next_delay(Duration::ZERO, &mut rng);
        }
        for _ in 0..100 {
            let d = b.next_delay(STABLE_UPTIME, &mut rng);
            assert!(d <= ms(250), "{d:?}");
            assert_eq!(b.failures(), 0);
        }
        let d = b.next_delay(Duration::ZERO, &mut rng);
        assert!(d >= ms(250) && d <= ms(500), "{d:?}");
    }

    #[test]
    fn short_lived_connections_keep_growing_the_delay() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut b = Backoff::new();
        b.next_delay(Duration::from_secs(59), &mut rng);
        b.next_delay(Duration::from_secs(59), &mut rng);
        let d = b.next_delay(Duration::from_secs(59), &mut rng);
        assert_eq!(b.failures(), 3);
        assert!(d >= ms(1000) && d <= ms(2000), "{d:?}");
    }

    #[test]
    fn retries_stay_at_most_ten_seconds_apart() {
        let mut rng = StdRng::seed_from_u64(9);
        let mut b = Backoff::new();
        for _ in 0..1000 {
            assert!(b.next_delay(Duration::ZERO, &mut rng) <= CAP);
        }
    }
}
