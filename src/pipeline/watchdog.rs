//! The input's liveness and its stop request, shared by the reader thread, libav's interrupt
//! callback (which runs inside blocking libav calls), the websocket bridge and the transcode's
//! control paths.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

#[derive(Debug)]
pub struct Watchdog {
    started: Instant,
    /// Milliseconds since `started` of the last successful read; 0 before the first one.
    last_activity_ms: AtomicU64,
    /// Phase one of a transcode's shutdown: cancelled by a stop request (Ctrl-C, the
    /// supervisor's `stop`, the supervisor gone). The input stops; everything read so far is
    /// still encoded, segmented and published.
    stop: CancellationToken,
    /// Set when a read was interrupted, or the websocket bridge gave up, because the source
    /// went silent for longer than `timeout`.
    pub timed_out: AtomicBool,
    timeout: Duration,
}

impl Watchdog {
    /// `stop`: the transcode's input-stop token (a child of its root token, so aborting the
    /// transcode stops the input too).
    pub fn new(timeout: Duration, stop: CancellationToken) -> Arc<Self> {
        Arc::new(Watchdog {
            started: Instant::now(),
            last_activity_ms: AtomicU64::new(0),
            stop,
            timed_out: AtomicBool::new(false),
            timeout,
        })
    }

    pub fn touch(&self) {
        let ms = self.started.elapsed().as_millis() as u64;
        self.last_activity_ms.store(ms.max(1), Ordering::Relaxed);
    }

    /// Time since the source last delivered a packet (since the watchdog was made, before the
    /// first one).
    pub fn input_idle(&self) -> Duration {
        let last = self.last_activity_ms.load(Ordering::Relaxed);
        self.started.elapsed().saturating_sub(Duration::from_millis(last))
    }

    /// The source timeout: first-media deadline and longest silence.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Asks the input to stop; the pipeline then finishes normally.
    pub fn request_stop(&self) {
        self.stop.cancel();
    }

    pub fn stop_requested(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// Resolves when a stop is requested (for async readers such as the websocket bridge).
    pub async fn stopped(&self) {
        self.stop.cancelled().await
    }

    /// True when a blocked libav call should give up now.
    pub fn should_interrupt(&self) -> bool {
        if self.stop_requested() {
            return true;
        }
        if self.input_idle() > self.timeout {
            self.timed_out.store(true, Ordering::Relaxed);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watchdog_fires_after_the_timeout_and_on_stop() {
        let dog = Watchdog::new(Duration::from_millis(0), CancellationToken::new());
        std::thread::sleep(Duration::from_millis(5));
        assert!(dog.should_interrupt());
        assert!(dog.timed_out.load(Ordering::Relaxed));
        let root = CancellationToken::new();
        let dog = Watchdog::new(Duration::from_secs(60), root.child_token());
        assert!(!dog.should_interrupt());
        root.cancel();
        assert!(dog.should_interrupt(), "aborting the transcode stops its input");
        assert!(!dog.timed_out.load(Ordering::Relaxed));
    }
}
