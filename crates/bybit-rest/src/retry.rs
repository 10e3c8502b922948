//! The retry schedule (SPEC R-REST-2 / R-ERR-1: 100 ms, 300 ms, 1000 ms, plus jitter) and the
//! policy saying which requests may be sent again. The schedule is a `backon` backoff; the
//! client wraps build → timestamp → sign → send in it, so every attempt is re-signed.

use std::time::Duration;

use backon::Retryable;

use crate::error::RestError;

/// How failed requests are retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryConfig {
    /// The pause before each retry; its length is the number of retries.
    pub delays: Vec<Duration>,
    /// Each pause is lengthened by a random fraction up to this many per mille (200 = 20 %),
    /// so that clients that failed together do not retry together.
    pub jitter_per_mille: u32,
    /// How many times one attempt may wait out a rate-limit answer (10006, HTTP 429) and
    /// re-send, on top of `delays`.
    pub rate_limit_retries: u32,
    /// The longest the client waits for a rate limit to reset before giving up with
    /// [`RestError::RateLimited`] instead of sending what it knows will be refused.
    pub max_rate_limit_wait: Duration,
    /// Whether an order create (single or batch) is ever sent again by this client: after a
    /// failure the schedule retries, after a 10002 clock resync, or after a rate-limit reset.
    /// On (the default) for `bybit-rest` used alone: a create carrying an orderLinkId is
    /// re-sent, and a duplicate is refused (110072) rather than placed twice. Off where a
    /// caller owns the re-sends of its writes (the execution layer's outcome policy, SPEC
    /// R-ERR-1): each create is then sent exactly once and its failure handed back as is.
    pub resend_creates: bool,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            delays: vec![
                Duration::from_millis(100),
                Duration::from_millis(300),
                Duration::from_millis(1000),
            ],
            jitter_per_mille: 200,
            rate_limit_retries: 5,
            max_rate_limit_wait: Duration::from_secs(5),
            resend_creates: true,
        }
    }
}

/// The schedule as a `backon` backoff: the configured delays, each with its jitter.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    delays: std::vec::IntoIter<Duration>,
    jitter_per_mille: u32,
}

impl Schedule {
    pub(crate) fn new(config: &RetryConfig) -> Self {
        Schedule {
            delays: config.delays.clone().into_iter(),
            jitter_per_mille: config.jitter_per_mille,
        }
    }
}

impl Iterator for Schedule {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let delay = self.delays.next()?;
        let per_mille = fastrand::u32(0..=self.jitter_per_mille);
        Some(delay + delay * per_mille / 1000)
    }
}

/// Runs `attempt` until it succeeds, fails in a way `policy` does not retry, or the schedule
/// is spent. The one retry loop of the client: `attempt` stamps, signs and sends afresh.
pub(crate) async fn retry<T, F, Fut>(
    config: &RetryConfig,
    policy: RetryPolicy,
    attempt: F,
) -> Result<T, RestError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, RestError>>,
{
    attempt
        .retry(Schedule::new(config))
        .sleep(tokio::time::sleep)
        .when(|e: &RestError| policy.allows(e))
        .notify(|e: &RestError, after: Duration| {
            tracing::warn!(error = %e, retry_in_ms = after.as_millis(), "bybit request failed; retrying");
        })
        .await
}

/// Which failures a request may be re-sent after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetryPolicy {
    /// Reads and idempotent writes (amend, cancel, cancel-all, leverage, TP/SL): every
    /// retryable failure.
    Retryable,
    /// An order create: retried only with an orderLinkId, so a duplicate is refused (110072)
    /// and resolved by lookup instead of becoming a second order.
    Create {
        /// Whether every order in the request carries an orderLinkId.
        has_link_id: bool,
    },
}

impl RetryPolicy {
    /// The policy `config` allows: a create is sent once when `resend_creates` is off.
    pub(crate) fn under(self, config: &RetryConfig) -> RetryPolicy {
        match self {
            RetryPolicy::Create { .. } if !config.resend_creates => {
                RetryPolicy::Create { has_link_id: false }
            }
            policy => policy,
        }
    }

    /// Whether a request under this policy may be sent more than once at all.
    pub(crate) fn may_resend(self) -> bool {
        self != RetryPolicy::Create { has_link_id: false }
    }

    /// Whether a request that failed with `error` may be sent again.
    pub(crate) fn allows(self, error: &RestError) -> bool {
        // A local refusal means the wait is longer than allowed; the schedule is shorter.
        if matches!(
            error,
            RestError::RateLimited {
                signal: crate::error::RateLimitSignal::Local,
                ..
            }
        ) {
            return false;
        }
        match self {
            RetryPolicy::Retryable => error.is_retryable(),
            RetryPolicy::Create { has_link_id } => has_link_id && error.is_retryable(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Mutex;

    use tokio::time::Instant;

    use super::*;
    use crate::error::ErrorContext;

    fn server_error() -> RestError {
        RestError::Exchange {
            ctx: ErrorContext::new("POST /v5/order/create", true),
            code: crate::error::codes::SERVER_ERROR,
            message: "System error".to_owned(),
        }
    }

    /// Runs an operation that fails `failures` times under `policy`, on tokio's paused clock,
    /// and returns the gaps between attempts and the result.
    async fn run(failures: u32, policy: RetryPolicy) -> (Vec<Duration>, Result<u32, RestError>) {
        let calls = AtomicU32::new(0);
        let times = Mutex::new(Vec::new());
        let result = retry(&RetryConfig::default(), policy, || async {
            times.lock().unwrap().push(Instant::now());
            let n = calls.fetch_add(1, Ordering::SeqCst);
            if n < failures {
                Err(server_error())
            } else {
                Ok(n)
            }
        })
        .await;
        let times = times.into_inner().unwrap();
        let gaps = times.windows(2).map(|w| w[1] - w[0]).collect();
        (gaps, result)
    }

    #[tokio::test(start_paused = true)]
    async fn retries_three_times_at_100_300_1000_ms_plus_at_most_20_percent_jitter() {
        let (gaps, result) = run(10, RetryPolicy::Retryable).await;
        assert!(result.is_err(), "gives up after the schedule");
        assert_eq!(gaps.len(), 3, "one attempt and three retries");
        for (gap, base) in gaps.iter().zip([100u64, 300, 1000]) {
            let base = Duration::from_millis(base);
            assert!(
                *gap >= base && *gap <= base + base / 5 + Duration::from_millis(1),
                "gap {gap:?} outside [{base:?}, +20%]"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_success_on_the_third_attempt_stops_retrying() {
        let (gaps, result) = run(2, RetryPolicy::Retryable).await;
        assert_eq!(result.unwrap(), 2);
        assert_eq!(gaps.len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_create_without_an_order_link_id_is_sent_once() {
        let (gaps, result) = run(1, RetryPolicy::Create { has_link_id: false }).await;
        assert!(result.unwrap_err().is_outcome_unknown());
        assert!(gaps.is_empty());
        let (gaps, result) = run(1, RetryPolicy::Create { has_link_id: true }).await;
        assert_eq!(result.unwrap(), 1);
        assert_eq!(gaps.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn with_create_resends_off_a_create_is_sent_once_and_reads_still_retry() {
        let config = RetryConfig {
            resend_creates: false,
            ..RetryConfig::default()
        };
        let create = RetryPolicy::Create { has_link_id: true }.under(&config);
        assert!(!create.may_resend());
        assert!(!create.allows(&server_error()));
        let read = RetryPolicy::Retryable.under(&config);
        assert!(read.may_resend());
        assert!(read.allows(&server_error()));
        // On (the default): a linked create is re-sent.
        let create = RetryPolicy::Create { has_link_id: true }.under(&RetryConfig::default());
        assert!(create.may_resend() && create.allows(&server_error()));
    }

    #[test]
    fn jitter_stays_within_its_bound() {
        let config = RetryConfig {
            delays: vec![Duration::from_millis(1000); 1000],
            ..RetryConfig::default()
        };
        let delays: Vec<_> = Schedule::new(&config).collect();
        assert!(delays
            .iter()
            .all(|d| *d >= Duration::from_millis(1000) && *d <= Duration::from_millis(1200)));
        assert!(
            delays.iter().any(|d| *d != delays[0]),
            "jitter actually varies"
        );
    }
}
