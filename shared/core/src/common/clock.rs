//! Time as a port: the real clock in production, a manual one in tests and in the local
//! server's `--manual-clock` mode.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to. Cloning shares the same time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<(DateTime<Utc>, bool)>>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the clock cannot move backwards from {now} to {requested}")]
pub struct ClockBackwards {
    pub now: DateTime<Utc>,
    pub requested: DateTime<Utc>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Arc::new(Mutex::new((start, false))),
        }
    }

    /// Sets the time; moving backwards is refused.
    pub fn set(&self, to: DateTime<Utc>) -> Result<(), ClockBackwards> {
        let mut now = self.now.lock().expect("clock lock");
        if to < now.0 {
            return Err(ClockBackwards {
                now: now.0,
                requested: to,
            });
        }
        *now = (to, true);
        Ok(())
    }

    /// Places the clock at any instant, past ones included, as long as it has never been set
    /// (it still reads the start time). Answers whether it did.
    pub fn place(&self, to: DateTime<Utc>) -> bool {
        let mut now = self.now.lock().expect("clock lock");
        if now.1 {
            return false;
        }
        *now = (to, true);
        true
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.now.lock().expect("clock lock").0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn manual_clock_refuses_to_go_backwards() {
        let start = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
        let clock = ManualClock::new(start);
        let later = start + chrono::Duration::minutes(5);
        clock.set(later).unwrap();
        assert_eq!(clock.now(), later);
        assert_eq!(
            clock.set(start),
            Err(ClockBackwards {
                now: later,
                requested: start
            })
        );
        assert_eq!(clock.now(), later);
        assert!(!clock.place(start));
    }

    #[test]
    fn a_clock_never_set_can_be_placed_in_the_past_once() {
        let start = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
        let clock = ManualClock::new(start);
        let earlier = start - chrono::Duration::days(3);
        assert!(clock.place(earlier));
        assert_eq!(clock.now(), earlier);
        assert!(!clock.place(start));
        assert!(clock.set(earlier - chrono::Duration::seconds(1)).is_err());
    }
}
