//! Per-channel pacing: each WhatsApp number sends at most its `messages_per_second`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;
use ulid::Ulid;

/// Hands out send slots per channel, evenly spaced at `1 / messages_per_second` plus 10 %: the
/// headroom keeps jitter on the way to Meta from ever putting more than the limit into one
/// second.
#[derive(Debug, Default)]
pub struct Pacer {
    next_slot: Mutex<HashMap<Ulid, Instant>>,
}

impl Pacer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reserves the channel's next slot; returns when it has come.
    pub async fn acquire(&self, channel: Ulid, messages_per_second: u32) {
        let slot = self.reserve(channel, messages_per_second, Instant::now());
        tokio::time::sleep_until(slot).await;
    }

    fn reserve(&self, channel: Ulid, messages_per_second: u32, now: Instant) -> Instant {
        let spacing = Duration::from_secs(1) * 11 / 10 / messages_per_second.max(1);
        let mut slots = self.next_slot.lock().expect("pacer lock");
        let next = slots.entry(channel).or_insert(now);
        let slot = (*next).max(now);
        *next = slot + spacing;
        slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_spaced_per_channel_and_never_in_the_past() {
        let pacer = Pacer::new();
        let now = Instant::now();
        let a = Ulid::from(1u128);
        let b = Ulid::from(2u128);
        let slots: Vec<_> = (0..5).map(|_| pacer.reserve(a, 80, now)).collect();
        for pair in slots.windows(2) {
            assert_eq!(pair[1] - pair[0], Duration::from_micros(13_750));
        }
        assert_eq!(pacer.reserve(b, 80, now), now);
        let later = now + Duration::from_secs(10);
        assert_eq!(pacer.reserve(a, 80, later), later);
    }

    #[test]
    fn at_most_the_rate_fits_in_any_second() {
        let pacer = Pacer::new();
        let now = Instant::now();
        let slots: Vec<_> = (0..1000)
            .map(|_| pacer.reserve(Ulid::nil(), 80, now))
            .collect();
        for (i, slot) in slots.iter().enumerate() {
            let within_a_second = slots[i..]
                .iter()
                .take_while(|s| **s - *slot < Duration::from_secs(1))
                .count();
            assert!(within_a_second <= 80);
        }
    }
}
