//! How an operation refused for capacity is tried again: exponential backoff with full jitter,
//! a bounded number of attempts. One policy type for every such retry (a DynamoDB transaction
//! cancelled for throughput, the sender's outcome write), with the delay a pure function of the
//! attempt and a uniform draw, so it is tested without sleeping.

use std::time::Duration;

/// Exponential backoff with full jitter: before retry `n` (0 for the first retry) the wait is
/// uniform in `[0, min(cap, base × 2^n)]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling of the first retry's wait.
    pub base: Duration,
    /// No wait is longer than this.
    pub cap: Duration,
    /// Tries in all, the first included (at least 1).
    pub attempts: u32,
}

impl Backoff {
    pub const fn new(base: Duration, cap: Duration, attempts: u32) -> Self {
        Self {
            base,
            cap,
            attempts,
        }
    }

    /// The same number of attempts with no wait between them (tests).
    pub const fn immediate(attempts: u32) -> Self {
        Self::new(Duration::ZERO, Duration::ZERO, attempts)
    }

    /// The longest wait before retry `retry`: `min(cap, base × 2^retry)`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The wait before retry `retry` for a uniform draw `unit` in `[0, 1)` (full jitter):
    /// `unit × ceiling(retry)`. Values of `unit` outside `[0, 1)` are clamped.
    pub fn delay(&self, retry: u32, unit: f64) -> Duration {
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.ceiling(retry).mul_f64(unit)
    }

    /// [`Self::delay`] with a draw from the thread's random generator.
    pub fn jittered(&self, retry: u32) -> Duration {
        self.delay(retry, rand::random::<f64>())
    }

    /// Whether try number `tried` (1 for the first) may be followed by another.
    pub fn allows_another(&self, tried: u32) -> bool {
        tried < self.attempts.max(1)
    }

    /// Sleeps for the jittered wait before retry `retry`.
    pub async fn wait(&self, retry: u32) {
        let delay = self.jittered(retry);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(2), 8);

    #[test]
    fn the_ceiling_doubles_from_the_base_until_the_cap() {
        assert_eq!(POLICY.ceiling(0), Duration::from_millis(50));
        assert_eq!(POLICY.ceiling(1), Duration::from_millis(100));
        assert_eq!(POLICY.ceiling(3), Duration::from_millis(400));
        assert_eq!(POLICY.ceiling(5), Duration::from_millis(1600));
        assert_eq!(POLICY.ceiling(6), Duration::from_secs(2));
        assert_eq!(POLICY.ceiling(40), Duration::from_secs(2));
        assert_eq!(POLICY.ceiling(u32::MAX), Duration::from_secs(2));
    }

    #[test]
    fn full_jitter_spans_zero_to_the_ceiling() {
        assert_eq!(POLICY.delay(2, 0.0), Duration::ZERO);
        assert_eq!(POLICY.delay(2, 0.5), Duration::from_millis(100));
        assert!(POLICY.delay(2, 0.999_999) <= POLICY.ceiling(2));
        assert_eq!(POLICY.delay(9, 0.25), Duration::from_millis(500));
    }

    #[test]
    fn a_draw_outside_the_unit_interval_is_clamped() {
        assert_eq!(POLICY.delay(1, -3.0), Duration::ZERO);
        assert_eq!(POLICY.delay(1, 7.0), POLICY.ceiling(1));
        assert_eq!(POLICY.delay(1, f64::NAN), Duration::ZERO);
    }

    #[test]
    fn jittered_waits_stay_within_the_ceiling() {
        for retry in 0..12 {
            for _ in 0..50 {
                assert!(POLICY.jittered(retry) <= POLICY.ceiling(retry));
            }
        }
    }

    #[test]
    fn attempts_bound_the_retries() {
        assert!(POLICY.allows_another(1));
        assert!(POLICY.allows_another(7));
        assert!(!POLICY.allows_another(8));
        // A policy of zero attempts still makes the first.
        assert!(!Backoff::immediate(0).allows_another(1));
    }

    #[test]
    fn an_immediate_policy_never_waits() {
        let policy = Backoff::immediate(5);
        for retry in 0..5 {
            assert_eq!(policy.jittered(retry), Duration::ZERO);
        }
    }
}
