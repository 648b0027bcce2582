//! Retrying a put until a deadline (§13): exponential backoff with jitter, only for errors that
//! can heal.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use rand::Rng;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::backend::Storage;
use super::error::StorageError;
use super::path::StoragePath;

/// When to stop retrying a file and how long to wait between attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// No new attempt starts after this much time since the first (`HLS_STORAGE_RETRY_SECONDS`).
    /// An attempt already running finishes, bounded by the backend's own request timeout.
    pub deadline: Duration,
    /// Nominal wait after the first failure; doubles after each further failure.
    pub first: Duration,
    /// Cap on the nominal wait.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            deadline: Duration::from_secs(30),
            first: Duration::from_millis(500),
            max: Duration::from_secs(8),
        }
    }
}

impl RetryPolicy {
    /// The nominal wait after failure number `failures` (1-based): `first · 2^(failures-1)`,
    /// capped at `max`.
    pub fn nominal_delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.first.saturating_mul(1 << doublings).min(self.max)
    }

    /// The wait actually slept: uniform in `[nominal/2, nominal]`. The floor keeps a burst of
    /// failing uploads from hammering a struggling server; the spread keeps streams that
    /// failed together from retrying together.
    pub fn jittered_delay(&self, failures: u32, rng: &mut impl Rng) -> Duration {
        let nominal = self.nominal_delay(failures);
        let low = nominal / 2;
        if nominal.is_zero() {
            return nominal;
        }
        rng.random_range(low..=nominal)
    }
}

/// Puts `body` at `path`, retrying retryable errors with backoff until `policy.deadline`.
/// Returns the first non-retryable error at once, the last error once the deadline has passed,
/// and [`StorageError::Cancelled`] as soon as `cancel` fires, even mid-attempt (an HTTP request
/// is dropped; a filesystem write already handed to the blocking pool still finishes).
pub async fn put_with_retry(
    storage: &dyn Storage,
    path: &StoragePath,
    body: Bytes,
    policy: &RetryPolicy,
    cancel: Option<&CancellationToken>,
) -> Result<(), StorageError> {
    retrying(path, policy, cancel, || storage.put(path, body.clone())).await
}

/// [`Storage::append`] under the same policy as [`put_with_retry`].
pub async fn append_with_retry(
    storage: &dyn Storage,
    path: &StoragePath,
    (body, from): (Bytes, usize),
    policy: &RetryPolicy,
    cancel: Option<&CancellationToken>,
) -> Result<(), StorageError> {
    retrying(path, policy, cancel, || storage.append(path, body.clone(), from)).await
}

async fn retrying<F, Fut>(
    path: &StoragePath,
    policy: &RetryPolicy,
    cancel: Option<&CancellationToken>,
    mut attempt: F,
) -> Result<(), StorageError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), StorageError>>,
{
    let deadline = Instant::now() + policy.deadline;
    let cancelled = || StorageError::Cancelled { path: path.to_string() };
    let mut failures = 0u32;
    loop {
        let result = unless_cancelled(cancel, attempt()).await;
        let err = match result.ok_or_else(cancelled)? {
            Ok(()) => {
                if failures > 0 {
                    tracing::warn!(path = %path, failures, "stored after retrying");
                }
                return Ok(());
            }
            Err(err) if !err.is_retryable() => return Err(err),
            Err(err) => err,
        };
        failures += 1;
        let now = Instant::now();
        if now >= deadline {
            tracing::debug!(path = %path, failures, error = %err, "retry deadline passed");
            return Err(err);
        }
        let wait = policy.jittered_delay(failures, &mut rand::rng()).min(deadline - now);
        tracing::debug!(path = %path, failures, ?wait, error = %err, "storage put failed; retrying");
        unless_cancelled(cancel, tokio::time::sleep(wait)).await.ok_or_else(cancelled)?;
    }
}

/// `None` if `cancel` fires before `work` completes.
async fn unless_cancelled<T>(cancel: Option<&CancellationToken>, work: impl Future<Output = T>) -> Option<T> {
    match cancel {
        None => Some(work.await),
        Some(token) => tokio::select! {
            biased;
            () = token.cancelled() => None,
            value = work => Some(value),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::sync::Mutex;

    /// A backend that answers from a script, then succeeds, and records when it was called.
    #[derive(Debug, Default)]
    struct Scripted {
        answers: Mutex<VecDeque<u16>>,
        always: Option<u16>,
        calls: Mutex<Vec<Instant>>,
    }

    impl Scripted {
        fn failing_with(statuses: &[u16]) -> Self {
            Scripted { answers: Mutex::new(statuses.iter().copied().collect()), ..Default::default() }
        }
        fn always(status: u16) -> Self {
            Scripted { always: Some(status), ..Default::default() }
        }
        fn calls(&self) -> Vec<Instant> {
            self.calls.lock().unwrap().clone()
        }
    }

    #[async_trait::async_trait]
    impl Storage for Scripted {
        async fn put(&self, _: &StoragePath, _: Bytes) -> Result<(), StorageError> {
            self.calls.lock().unwrap().push(Instant::now());
            let status = self.answers.lock().unwrap().pop_front().or(self.always);
            match status {
                None => Ok(()),
                Some(status) => Err(StorageError::Http {
                    method: "PUT",
                    status,
                    url_without_credentials: "http://test/x".into(),
                    body: String::new(),
                }),
            }
        }
        async fn delete(&self, _: &StoragePath) -> Result<(), StorageError> {
            Ok(())
        }
        fn describe(&self) -> String {
            "scripted".into()
        }
    }

    fn fast(deadline_ms: u64) -> RetryPolicy {
        RetryPolicy {
            deadline: Duration::from_millis(deadline_ms),
            first: Duration::from_millis(20),
            max: Duration::from_millis(80),
        }
    }

    fn path() -> StoragePath {
        StoragePath::new("hls/c/s/1.ts").unwrap()
    }

    #[test]
    fn nominal_delay_doubles_from_half_a_second_to_eight() {
        let p = RetryPolicy::default();
        let secs: Vec<f64> = (1..=7).map(|n| p.nominal_delay(n).as_secs_f64()).collect();
        assert_eq!(secs, [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]);
        assert_eq!(p.nominal_delay(1000), Duration::from_secs(8));
    }

    #[test]
    fn jitter_stays_between_half_and_full_nominal_delay_and_varies() {
        let p = RetryPolicy::default();
        let mut rng = rand::rng();
        let samples: Vec<Duration> = (0..200).map(|_| p.jittered_delay(3, &mut rng)).collect();
        assert!(samples.iter().all(|d| *d >= Duration::from_secs(1) && *d <= Duration::from_secs(2)));
        assert!(samples.iter().any(|d| *d != samples[0]), "jitter never varied");
    }

    #[tokio::test]
    async fn retryable_failures_are_retried_until_success() {
        let storage = Scripted::failing_with(&[503, 429, 408]);
        put_with_retry(&storage, &path(), Bytes::new(), &fast(2_000), None).await.unwrap();
        let calls = storage.calls();
        assert_eq!(calls.len(), 4);
        // Waits are at least half the nominal delays 20, 40, 80 ms.
        for (i, min_ms) in [10u64, 20, 40].iter().enumerate() {
            let gap = calls[i + 1] - calls[i];
            assert!(gap >= Duration::from_millis(*min_ms), "gap {i} was {gap:?}");
        }
    }

    #[tokio::test]
    async fn non_retryable_errors_return_after_one_attempt() {
        let storage = Scripted::always(403);
        let err = put_with_retry(&storage, &path(), Bytes::new(), &fast(2_000), None).await.unwrap_err();
        assert!(matches!(err, StorageError::Http { status: 403, .. }));
        assert_eq!(storage.calls().len(), 1);
    }

    #[tokio::test]
    async fn retries_stop_at_the_deadline_with_the_last_error() {
        let storage = Scripted::always(500);
        let start = Instant::now();
        let err = put_with_retry(&storage, &path(), Bytes::new(), &fast(300), None).await.unwrap_err();
        let elapsed = start.elapsed();
        assert!(matches!(err, StorageError::Http { status: 500, .. }));
        assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
        assert!(elapsed < Duration::from_millis(600), "{elapsed:?}");
        // 20, 40, 80, 80... ms nominal, at least half each: between 4 and ~13 attempts.
        let attempts = storage.calls().len();
        assert!((4..=14).contains(&attempts), "{attempts} attempts");
    }

    #[tokio::test]
    async fn a_zero_deadline_means_a_single_attempt() {
        let storage = Scripted::always(500);
        put_with_retry(&storage, &path(), Bytes::new(), &fast(0), None).await.unwrap_err();
        assert_eq!(storage.calls().len(), 1);
    }

    #[tokio::test]
    async fn cancellation_interrupts_the_backoff() {
        let storage = Scripted::always(500);
        let token = CancellationToken::new();
        let policy = RetryPolicy {
            deadline: Duration::from_secs(30),
            first: Duration::from_secs(10),
            max: Duration::from_secs(10),
        };
        let cancel_soon = token.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            cancel_soon.cancel();
        });
        let start = Instant::now();
        let err = put_with_retry(&storage, &path(), Bytes::new(), &policy, Some(&token)).await.unwrap_err();
        assert!(matches!(err, StorageError::Cancelled { .. }), "{err}");
        assert!(start.elapsed() < Duration::from_secs(2));
        assert_eq!(storage.calls().len(), 1);
    }

    #[tokio::test]
    async fn an_already_cancelled_token_makes_no_attempt() {
        let storage = Scripted::always(500);
        let token = CancellationToken::new();
        token.cancel();
        let err = put_with_retry(&storage, &path(), Bytes::new(), &fast(1_000), Some(&token)).await.unwrap_err();
        assert!(matches!(err, StorageError::Cancelled { .. }));
        assert!(storage.calls().is_empty());
    }
}
