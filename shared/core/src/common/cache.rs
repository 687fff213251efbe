//! A short per-instance cache: values as this instance last read them, for at most a fixed time
//! by the injected clock. Correctness never depends on it (the conditional writes guard that);
//! it only bounds how soon an edit shows.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};

use crate::common::clock::Clock;

#[derive(Clone)]
pub struct TtlCache<K, V> {
    clock: Arc<dyn Clock>,
    ttl: TimeDelta,
    entries: Arc<Mutex<HashMap<K, Entry<V>>>>,
}

/// A value and when it was read.
type Entry<V> = (V, DateTime<Utc>);

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    /// Entries beyond this many are dropped (all of them) before a new one goes in.
    const MAX_ENTRIES: usize = 10_000;

    pub fn new(clock: Arc<dyn Clock>, ttl: TimeDelta) -> Self {
        Self {
            clock,
            ttl,
            entries: Arc::default(),
        }
    }

    /// The value read less than the TTL ago (by this clock), if any.
    pub fn get(&self, key: &K) -> Option<V> {
        let now = self.clock.now();
        let entries = self.entries.lock().expect("cache");
        let (value, read_at) = entries.get(key)?;
        (*read_at <= now && now - *read_at < self.ttl).then(|| value.clone())
    }

    pub fn put(&self, key: K, value: V) {
        let now = self.clock.now();
        let mut entries = self.entries.lock().expect("cache");
        if entries.len() >= Self::MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, (value, now));
    }

    /// Forgets `key` (this instance changed it).
    pub fn forget(&self, key: &K) {
        self.entries.lock().expect("cache").remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::clock::ManualClock;

    #[test]
    fn a_value_is_served_for_the_ttl_then_read_again() {
        let start: DateTime<Utc> = "2026-11-23T12:00:00Z".parse().unwrap();
        let clock = ManualClock::new(start);
        let cache = TtlCache::new(Arc::new(clock.clone()), TimeDelta::seconds(5));
        cache.put("a", 1);
        clock.set(start + TimeDelta::seconds(4)).unwrap();
        assert_eq!(cache.get(&"a"), Some(1));
        clock.set(start + TimeDelta::seconds(5)).unwrap();
        assert_eq!(cache.get(&"a"), None);
        cache.put("a", 2);
        cache.forget(&"a");
        assert_eq!(cache.get(&"a"), None);
    }
}
