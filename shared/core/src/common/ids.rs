//! Id generation as a port: ULIDs in production, a deterministic sequence in tests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ulid::Ulid;

use crate::common::clock::Clock;

pub trait IdGen: Send + Sync + 'static {
    fn new_id(&self) -> Ulid;
}

/// ULIDs stamped with the given clock's time, so ids sort with the (possibly manual) time.
pub struct UlidGen {
    clock: Arc<dyn Clock>,
    generator: std::sync::Mutex<ulid::Generator>,
}

impl UlidGen {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            generator: std::sync::Mutex::new(ulid::Generator::new()),
        }
    }
}

impl IdGen for UlidGen {
    fn new_id(&self) -> Ulid {
        let now: std::time::SystemTime = self.clock.now().into();
        let mut generator = self.generator.lock().expect("id generator lock");
        // Monotonic within one millisecond; on overflow fall back to a fresh random id.
        generator
            .generate_from_datetime(now)
            .unwrap_or_else(|_| Ulid::from_datetime(now))
    }
}

/// Deterministic ids for tests: 1, 2, 3, ... as ULIDs.
#[derive(Debug, Default)]
pub struct SequentialIds {
    next: AtomicU64,
}

impl IdGen for SequentialIds {
    fn new_id(&self) -> Ulid {
        Ulid::from(u128::from(self.next.fetch_add(1, Ordering::Relaxed) + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::clock::ManualClock;
    use chrono::TimeZone;

    #[test]
    fn ulids_follow_the_injected_clock_and_are_monotonic() {
        let start = chrono::Utc
            .with_ymd_and_hms(2026, 11, 23, 12, 0, 0)
            .unwrap();
        let ids = UlidGen::new(Arc::new(ManualClock::new(start)));
        let a = ids.new_id();
        let b = ids.new_id();
        assert!(b > a);
        assert_eq!(a.timestamp_ms(), start.timestamp_millis() as u64);
    }

    #[test]
    fn sequential_ids_count_up() {
        let ids = SequentialIds::default();
        assert_eq!(u128::from(ids.new_id()), 1);
        assert_eq!(u128::from(ids.new_id()), 2);
    }
}
