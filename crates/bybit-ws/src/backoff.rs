//! Reconnect spacing: exponential from `initial`, capped at `max`, with jitter, and reset once
//! a connection has stayed up for `stable_after`.

use std::time::Duration;

/// The reconnect schedule's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackoffConfig {
    /// The first delay.
    pub initial: Duration,
    /// The longest delay.
    pub max: Duration,
    /// A connection that lived this long resets the schedule to `initial`.
    pub stable_after: Duration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(30),
            stable_after: Duration::from_secs(30),
        }
    }
}

/// The schedule's state: how many delays in a row have been taken.
#[derive(Debug)]
pub(crate) struct Backoff {
    config: BackoffConfig,
    attempt: u32,
    rng: fastrand::Rng,
}

impl Backoff {
    pub(crate) fn new(config: BackoffConfig) -> Self {
        Backoff {
            config,
            attempt: 0,
            rng: fastrand::Rng::new(),
        }
    }

    #[cfg(test)]
    fn seeded(config: BackoffConfig, seed: u64) -> Self {
        Backoff {
            config,
            attempt: 0,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// The next delay: `initial * 2^attempt`, capped, then drawn uniformly from its upper half
    /// ("equal jitter"), so clients that lost the same server do not return in step, and a
    /// delay never falls below half the schedule's value.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(20)).unwrap_or(u32::MAX);
        let base = self
            .config
            .initial
            .saturating_mul(factor)
            .min(self.config.max);
        self.attempt = self.attempt.saturating_add(1);
        let half = base / 2;
        let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(self.rng.u64(0..=nanos))
    }

    /// How many delays have been taken since the last reset.
    pub(crate) fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Called when a connection ends: one that lasted `stable_after` resets the schedule.
    pub(crate) fn connection_lasted(&mut self, lived: Duration) {
        if lived >= self.config.stable_after {
            self.attempt = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_with_jitter_up_to_the_cap_and_reset_after_a_stable_connection() {
        let config = BackoffConfig {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
            stable_after: Duration::from_secs(10),
        };
        for seed in 0..50 {
            let mut backoff = Backoff::seeded(config.clone(), seed);
            let mut base = Duration::from_millis(100);
            for _ in 0..10 {
                let delay = backoff.next_delay();
                assert!(delay >= base / 2 && delay <= base, "{delay:?} vs {base:?}");
                base = (base * 2).min(config.max);
            }
            backoff.connection_lasted(Duration::from_secs(9));
            assert!(
                backoff.next_delay() >= Duration::from_secs(1),
                "not reset by a short connection"
            );
            backoff.connection_lasted(Duration::from_secs(10));
            assert_eq!(backoff.attempt(), 0);
            assert!(backoff.next_delay() <= Duration::from_millis(100));
        }
    }
}
