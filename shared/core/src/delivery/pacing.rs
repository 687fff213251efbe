//! Per-number pacing: each WhatsApp number sends at most its `messages_per_second`, summed over
//! every sender instance.
//!
//! A number's sends go out on a lattice of instants: slot `k` is at `k × spacing` after the Unix
//! epoch, `spacing` being `1 / messages_per_second` plus 10 % (the headroom keeps jitter on the
//! way to Meta from putting more than the limit into any second, sliding or calendar). Each slot
//! is handed out at most once, by whichever store holds the lattice's counters: in process for
//! the in-memory store, in DynamoDB (one conditional `UpdateItem` per slot taken) for the
//! production store, so that every Lambda instance or `ritmo-local` process sharing the table
//! shares the number's rate.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use ulid::Ulid;

use crate::common::error::PortError;

/// The longest a sender waits for its slot; a later slot sends the job back to the scheduler,
/// due in that slot.
pub const SLOT_WAIT: TimeDelta = TimeDelta::seconds(5);
/// How early a job planned in a slot fires, to be read and claimed when the slot comes.
pub const SLOT_LEAD: TimeDelta = TimeDelta::seconds(4);
/// How far ahead of now a sender asks for a slot: the answer comes back before the slot does, so
/// a slow store does not hand out slots that have already passed.
pub const SLOT_MARGIN: TimeDelta = TimeDelta::milliseconds(250);
/// How late a sender may reach its slot and still send in it. With 10 % headroom on the
/// lattice, a send up to about 100 ms late still leaves every sliding second within the rate.
pub const SLOT_GRACE: TimeDelta = TimeDelta::milliseconds(80);

/// A number's send slots, shared by every sender of that number.
#[async_trait]
pub trait SendSlots: Send + Sync {
    /// Takes the number's first free slot at or after `now`.
    async fn take(
        &self,
        channel: Ulid,
        messages_per_second: u32,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, PortError>;
}

/// The slot lattice of a number sending `messages_per_second`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lattice {
    spacing_us: i64,
}

impl Lattice {
    pub fn new(messages_per_second: u32) -> Self {
        Self {
            spacing_us: (1_100_000 / i64::from(messages_per_second.max(1))).max(1),
        }
    }

    pub fn spacing(&self) -> TimeDelta {
        TimeDelta::microseconds(self.spacing_us)
    }

    /// The first slot at or after `at`.
    pub fn first_at_or_after(&self, at: DateTime<Utc>) -> i64 {
        let us = at.timestamp_micros();
        us.div_euclid(self.spacing_us) + i64::from(us.rem_euclid(self.spacing_us) != 0)
    }

    /// The last slot at or before `at`.
    pub fn last_at_or_before(&self, at: DateTime<Utc>) -> i64 {
        at.timestamp_micros().div_euclid(self.spacing_us)
    }

    pub fn instant(&self, slot: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(slot.saturating_mul(self.spacing_us))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// Slots per counter item of a store that groups them: about one second's worth, and at
    /// least 16 (a slow number's backlog then spans few items).
    pub fn bucket_len(&self) -> i64 {
        (1_000_000 / self.spacing_us).max(16)
    }
}

/// The in-process lattice counters: one instance's senders share them (memory store, tests).
#[derive(Debug, Default)]
pub struct LocalSlots {
    next: Mutex<HashMap<(Ulid, u32), i64>>,
}

impl LocalSlots {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl SendSlots for LocalSlots {
    async fn take(
        &self,
        channel: Ulid,
        messages_per_second: u32,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, PortError> {
        let lattice = Lattice::new(messages_per_second);
        let mut next = self.next.lock().expect("slot counters");
        let next = next.entry((channel, messages_per_second)).or_default();
        let slot = (*next).max(lattice.first_at_or_after(now));
        *next = slot + 1;
        Ok(lattice.instant(slot))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(us: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(us).unwrap()
    }

    #[tokio::test]
    async fn slots_are_spaced_per_channel_and_never_in_the_past() {
        let slots = LocalSlots::new();
        let now = at(1_700_000_000_123_456);
        let (a, b) = (Ulid::from(1u128), Ulid::from(2u128));
        let mut taken = Vec::new();
        for _ in 0..400 {
            taken.push(slots.take(a, 80, now).await.unwrap());
        }
        assert!(taken[0] >= now && taken[0] - now < TimeDelta::microseconds(13_750));
        for pair in taken.windows(2) {
            assert_eq!(pair[1] - pair[0], TimeDelta::microseconds(13_750));
        }
        assert!(slots.take(b, 80, now).await.unwrap() - now < TimeDelta::microseconds(13_750));
        let later = now + TimeDelta::seconds(60);
        let slot = slots.take(a, 80, later).await.unwrap();
        assert!(slot >= later && slot - later < TimeDelta::microseconds(13_750));
    }

    #[test]
    fn no_second_of_the_lattice_holds_more_than_the_rate() {
        for mps in [1, 10, 80, 1000] {
            let lattice = Lattice::new(mps);
            let start = lattice.first_at_or_after(at(1_700_000_000_000_000));
            let instants: Vec<_> = (start..start + 3000).map(|k| lattice.instant(k)).collect();
            for (i, slot) in instants.iter().enumerate() {
                let within_a_second = instants[i..]
                    .iter()
                    .take_while(|s| **s - *slot < TimeDelta::seconds(1))
                    .count();
                assert!(
                    within_a_second <= mps as usize,
                    "{mps}/s: {within_a_second}"
                );
            }
        }
    }

    #[test]
    fn first_and_last_slots_round_the_right_way() {
        let lattice = Lattice::new(10);
        assert_eq!(lattice.spacing(), TimeDelta::milliseconds(110));
        assert_eq!(lattice.first_at_or_after(at(110_000)), 1);
        assert_eq!(lattice.first_at_or_after(at(110_001)), 2);
        assert_eq!(lattice.last_at_or_before(at(219_999)), 1);
        assert_eq!(lattice.bucket_len(), 16);
        assert_eq!(Lattice::new(1000).bucket_len(), 909);
    }
}
