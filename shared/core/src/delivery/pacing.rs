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
//!
//! A second lattice per number, the planning lane, spreads the instants at which steps that come
//! due together are planned (a bulk enrollment, a window opening, a resume): each planned send
//! gets its own instant at the number's rate. The sender still takes a send slot when the step
//! fires; planned instants only keep those arrivals from bunching.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use ulid::Ulid;

use crate::common::clock::Clock;
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

/// Which of a number's two lattices a slot is taken in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lane {
    /// The instants messages go out at.
    Send,
    /// The instants steps are planned for.
    Plan,
}

/// A number's send slots, shared by every sender of that number.
#[async_trait]
pub trait SendSlots: Send + Sync {
    /// Takes the number's first free slot of `lane` at or after `at`.
    async fn take(
        &self,
        lane: Lane,
        channel: Ulid,
        messages_per_second: u32,
        at: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, PortError>;
}

/// Runs of buckets known to be full, as `[start, end)` intervals: a take that starts inside
/// one goes straight to its end. Takes may start anywhere (a planned step days ahead, a send
/// now), so what is known full is a set of runs, not one frontier.
#[derive(Debug, Clone, Default)]
pub struct FullRuns {
    runs: std::collections::BTreeMap<i64, i64>,
}

impl FullRuns {
    /// At most this many runs are remembered; the earliest are forgotten first.
    const MAX_RUNS: usize = 64;

    /// The end of the run holding `bucket`, or `bucket` itself when none does.
    pub fn skip(&self, bucket: i64) -> i64 {
        match self.runs.range(..=bucket).next_back() {
            Some((_, end)) if *end > bucket => *end,
            _ => bucket,
        }
    }

    /// Records that buckets `[start, end)` are full, merging with the runs it touches.
    pub fn insert(&mut self, start: i64, end: i64) {
        if start >= end {
            return;
        }
        let (mut start, mut end) = (start, end);
        let touching: Vec<(i64, i64)> = self
            .runs
            .range(..=end)
            .rev()
            .take_while(|(_, e)| **e >= start)
            .map(|(s, e)| (*s, *e))
            .collect();
        for (s, e) in touching {
            self.runs.remove(&s);
            start = start.min(s);
            end = end.max(e);
        }
        self.runs.insert(start, end);
        while self.runs.len() > Self::MAX_RUNS {
            self.runs.pop_first();
        }
    }
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
/// Like the table's, they are counted per bucket, so that takes anywhere on the lattice (a
/// planned step next week, a send now) leave each other's slots alone.
pub struct LocalSlots {
    clock: Arc<dyn Clock>,
    lattices: Mutex<HashMap<(Lane, Ulid, u32), LocalLattice>>,
}

#[derive(Debug, Default)]
struct LocalLattice {
    /// Per bucket: how many of its slots, from the first, are taken or passed.
    taken: HashMap<i64, i64>,
    full: FullRuns,
}

impl LocalSlots {
    /// Buckets that ended this long before a take are forgotten.
    const KEEP: TimeDelta = TimeDelta::hours(1);

    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            lattices: Mutex::default(),
        }
    }
}

#[async_trait]
impl SendSlots for LocalSlots {
    async fn take(
        &self,
        lane: Lane,
        channel: Ulid,
        messages_per_second: u32,
        at: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, PortError> {
        let lattice = Lattice::new(messages_per_second);
        let per_bucket = lattice.bucket_len();
        let first = lattice.first_at_or_after(at);
        let mut lattices = self.lattices.lock().expect("slot counters");
        let counters = lattices
            .entry((lane, channel, messages_per_second))
            .or_default();
        if counters.taken.len() > 4096 {
            let old = lattice
                .first_at_or_after(self.clock.now() - Self::KEEP)
                .div_euclid(per_bucket);
            counters.taken.retain(|bucket, _| *bucket >= old);
        }
        let start = first.div_euclid(per_bucket);
        let mut bucket = counters.full.skip(start);
        loop {
            let base = bucket * per_bucket;
            let floor = (first - base).max(0);
            let n = counters.taken.entry(bucket).or_default();
            *n = (*n).max(floor);
            if *n < per_bucket {
                let slot = base + *n;
                *n += 1;
                if *n == per_bucket {
                    counters.full.insert(start, bucket + 1);
                }
                return Ok(lattice.instant(slot));
            }
            bucket = counters.full.skip(bucket + 1);
        }
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
        let slots = LocalSlots::new(Arc::new(crate::common::clock::SystemClock));
        let now = at(1_700_000_000_123_456);
        let (a, b) = (Ulid::from(1u128), Ulid::from(2u128));
        let mut taken = Vec::new();
        for _ in 0..400 {
            taken.push(slots.take(Lane::Send, a, 80, now).await.unwrap());
        }
        assert!(taken[0] >= now && taken[0] - now < TimeDelta::microseconds(13_750));
        for pair in taken.windows(2) {
            assert_eq!(pair[1] - pair[0], TimeDelta::microseconds(13_750));
        }
        assert!(
            slots.take(Lane::Send, b, 80, now).await.unwrap() - now
                < TimeDelta::microseconds(13_750)
        );
        let later = now + TimeDelta::seconds(60);
        let slot = slots.take(Lane::Send, a, 80, later).await.unwrap();
        assert!(slot >= later && slot - later < TimeDelta::microseconds(13_750));
    }

    #[tokio::test]
    async fn a_take_far_ahead_leaves_the_present_alone_and_lanes_are_apart() {
        let slots = LocalSlots::new(Arc::new(crate::common::clock::SystemClock));
        let now = at(1_700_000_000_000_000);
        let channel = Ulid::from(1u128);
        let tomorrow = now + TimeDelta::days(1);
        let first = slots.take(Lane::Plan, channel, 10, tomorrow).await.unwrap();
        for _ in 1..500 {
            slots.take(Lane::Plan, channel, 10, tomorrow).await.unwrap();
        }
        let soon = slots.take(Lane::Plan, channel, 10, now).await.unwrap();
        assert!(soon - now < TimeDelta::milliseconds(110), "{soon}");
        let next = slots.take(Lane::Plan, channel, 10, tomorrow).await.unwrap();
        assert_eq!(next - first, TimeDelta::milliseconds(110 * 500));
        let send = slots.take(Lane::Send, channel, 10, tomorrow).await.unwrap();
        assert!(send - tomorrow < TimeDelta::milliseconds(110), "{send}");
    }

    #[test]
    fn full_runs_merge_and_skip() {
        let mut runs = FullRuns::default();
        runs.insert(10, 12);
        runs.insert(14, 20);
        assert_eq!(runs.skip(9), 9);
        assert_eq!(runs.skip(10), 12);
        assert_eq!(runs.skip(12), 12);
        assert_eq!(runs.skip(15), 20);
        runs.insert(12, 14);
        assert_eq!(runs.skip(10), 20);
        runs.insert(5, 11);
        assert_eq!(runs.skip(5), 20);
        for k in 0..100 {
            runs.insert(100 + 3 * k, 101 + 3 * k);
        }
        assert_eq!(runs.skip(397), 398, "the latest runs are kept");
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
