//! An in-process timer queue standing in for EventBridge Scheduler: one-shot schedules by name,
//! fired by a background task (real clock), or as the manual clock is moved forward.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use ritmo_core::common::clock::{Clock, ClockBackwards, ManualClock};
use ritmo_core::common::error::PortError;
use ritmo_core::delivery::ports::{Schedule, Scheduler, StepJob, StepRunner};

/// How often a schedule whose run failed (an infrastructure error) is tried again, and after
/// how long: EventBridge Scheduler retries too.
const MAX_REDELIVERIES: u32 = 10;
const REDELIVERY_DELAY: chrono::TimeDelta = chrono::TimeDelta::seconds(60);
/// Schedules fired at once by the background task.
const PARALLEL_FIRES: usize = 512;

#[derive(Default)]
struct Queue {
    by_time: BTreeMap<(DateTime<Utc>, String), StepJob>,
    by_name: HashMap<String, DateTime<Utc>>,
    redeliveries: HashMap<String, u32>,
}

impl Queue {
    fn insert(&mut self, schedule: Schedule) {
        self.remove(&schedule.name);
        self.by_name.insert(schedule.name.clone(), schedule.fire_at);
        self.by_time
            .insert((schedule.fire_at, schedule.name), schedule.input);
    }

    fn remove(&mut self, name: &str) -> bool {
        match self.by_name.remove(name) {
            Some(at) => self.by_time.remove(&(at, name.to_string())).is_some(),
            None => false,
        }
    }

    fn next_at(&self) -> Option<DateTime<Utc>> {
        self.by_time.keys().next().map(|(at, _)| *at)
    }

    fn pop_due(&mut self, now: DateTime<Utc>) -> Option<Schedule> {
        let (at, _) = self.by_time.keys().next()?;
        if *at > now {
            return None;
        }
        let ((fire_at, name), input) = self.by_time.pop_first()?;
        self.by_name.remove(&name);
        Some(Schedule {
            name,
            fire_at,
            input,
        })
    }
}

pub struct LocalScheduler {
    clock: Arc<dyn Clock>,
    queue: Mutex<Queue>,
    runner: OnceLock<Arc<dyn StepRunner>>,
    wake: Notify,
    /// Held while schedules fire, so a clock jump returns only after every due one finished.
    firing: tokio::sync::Mutex<()>,
    /// Schedules firing at once in real time.
    in_flight: tokio::sync::Semaphore,
}

impl LocalScheduler {
    pub fn new(clock: Arc<dyn Clock>) -> Arc<Self> {
        Arc::new(Self {
            clock,
            queue: Mutex::default(),
            runner: OnceLock::new(),
            wake: Notify::new(),
            firing: tokio::sync::Mutex::new(()),
            in_flight: tokio::sync::Semaphore::new(PARALLEL_FIRES),
        })
    }

    /// Sets what the schedules fire (the sender). Only the first call has an effect.
    pub fn set_runner(&self, runner: Arc<dyn StepRunner>) {
        let _ = self.runner.set(runner);
    }

    /// Pending schedules, earliest first.
    pub fn pending(&self) -> Vec<Schedule> {
        let queue = self.queue.lock().expect("scheduler lock");
        queue
            .by_time
            .iter()
            .map(|((fire_at, name), input)| Schedule {
                name: name.clone(),
                fire_at: *fire_at,
                input: input.clone(),
            })
            .collect()
    }

    /// Starts the task that fires schedules as they come due. With `real_time` it sleeps until
    /// the next one; otherwise (manual clock) it fires only what is due at the clock's time.
    pub fn start(self: &Arc<Self>, real_time: bool) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move { this.run_loop(real_time).await })
    }

    async fn run_loop(self: Arc<Self>, real_time: bool) {
        loop {
            let next = self.queue.lock().expect("scheduler lock").next_at();
            let now = self.clock.now();
            match next {
                Some(at) if at <= now && real_time => self.spawn_due(now),
                Some(at) if at <= now => self.fire_due_now().await,
                Some(at) if real_time => {
                    let wait = (at - now).to_std().unwrap_or(Duration::ZERO);
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = self.wake.notified() => {}
                    }
                }
                _ => self.wake.notified().await,
            }
        }
    }

    /// Real time: each due schedule fires in a task of its own (at most [`PARALLEL_FIRES`] at
    /// once), and the loop goes straight back to the queue, so that a slow or waiting job never
    /// holds up the schedules that come due after it (as each Lambda invocation is separate).
    fn spawn_due(self: &Arc<Self>, now: DateTime<Utc>) {
        let mut queue = self.queue.lock().expect("scheduler lock");
        while let Some(schedule) = queue.pop_due(now) {
            let this = Arc::clone(self);
            tokio::spawn(async move {
                let Ok(_permit) = this.in_flight.acquire().await else {
                    return;
                };
                let runner = this.runner.get().cloned();
                if let Err(error) = fire(runner, schedule.input.clone()).await {
                    this.redeliver_later(schedule, &error);
                }
            });
        }
    }

    async fn fire_due_now(&self) {
        let _firing = self.firing.lock().await;
        let now = self.clock.now();
        let mut due = Vec::new();
        {
            let mut queue = self.queue.lock().expect("scheduler lock");
            while let Some(schedule) = queue.pop_due(now) {
                due.push(schedule);
            }
        }
        let mut running = tokio::task::JoinSet::new();
        for schedule in due {
            while running.len() >= PARALLEL_FIRES {
                running.join_next().await;
            }
            let runner = self.runner.get().cloned();
            running.spawn(async move { (schedule.clone(), fire(runner, schedule.input).await) });
        }
        while let Some(done) = running.join_next().await {
            if let Ok((schedule, Err(error))) = done {
                self.redeliver_later(schedule, &error);
            }
        }
    }

    /// Moves the manual clock forward to `to`, firing every schedule that comes due on the way,
    /// in order, each at its own fire time. Returns how many fired.
    pub async fn advance(
        &self,
        clock: &ManualClock,
        to: DateTime<Utc>,
    ) -> Result<usize, ClockBackwards> {
        let _firing = self.firing.lock().await;
        let now = clock.now();
        if to < now {
            return Err(ClockBackwards { now, requested: to });
        }
        let mut fired = 0;
        loop {
            let next = self.queue.lock().expect("scheduler lock").pop_due(to);
            let Some(schedule) = next else { break };
            if schedule.fire_at > clock.now() {
                clock.set(schedule.fire_at)?;
            }
            fired += 1;
            if let Err(error) = fire(self.runner.get().cloned(), schedule.input.clone()).await {
                self.redeliver_later(schedule, &error);
            }
        }
        clock.set(to)?;
        drop(_firing);
        self.wake.notify_one();
        Ok(fired)
    }

    fn redeliver_later(&self, schedule: Schedule, error: &PortError) {
        let mut queue = self.queue.lock().expect("scheduler lock");
        let tries = queue.redeliveries.entry(schedule.name.clone()).or_insert(0);
        *tries += 1;
        if *tries > MAX_REDELIVERIES {
            tracing::error!(schedule = %schedule.name, error = %error, "schedule dropped after repeated failures");
            queue.redeliveries.remove(&schedule.name);
            return;
        }
        tracing::warn!(schedule = %schedule.name, error = %error, tries = *tries, "schedule failed; will fire again");
        let fire_at = self.clock.now() + REDELIVERY_DELAY;
        queue.insert(Schedule {
            fire_at,
            ..schedule
        });
    }
}

async fn fire(runner: Option<Arc<dyn StepRunner>>, job: StepJob) -> Result<(), PortError> {
    match runner {
        Some(runner) => runner.run(job).await,
        None => Err(PortError::new(
            "no step runner is set on the local scheduler",
        )),
    }
}

#[async_trait]
impl Scheduler for LocalScheduler {
    async fn schedule(&self, schedule: Schedule) -> Result<(), PortError> {
        self.queue.lock().expect("scheduler lock").insert(schedule);
        self.wake.notify_one();
        Ok(())
    }

    async fn cancel(&self, name: &str) -> Result<(), PortError> {
        self.queue.lock().expect("scheduler lock").remove(name);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use ritmo_core::common::tenant::TenantId;
    use ulid::Ulid;

    struct Recorder {
        clock: ManualClock,
        seen: Mutex<Vec<(String, DateTime<Utc>)>>,
    }

    #[async_trait]
    impl StepRunner for Recorder {
        async fn run(&self, job: StepJob) -> Result<(), PortError> {
            self.seen
                .lock()
                .unwrap()
                .push((job.phone, self.clock.now()));
            Ok(())
        }
    }

    fn job(phone: &str) -> StepJob {
        StepJob {
            tenant: TenantId::parse("t").unwrap(),
            sequence_id: Ulid::nil(),
            enrollment_id: Ulid::new(),
            phone: phone.into(),
            step_id: Ulid::nil(),
            attempt: 0,
            slot: None,
            accepted: None,
        }
    }

    #[tokio::test]
    async fn advancing_fires_due_schedules_in_order_at_their_own_time() {
        let start = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
        let clock = ManualClock::new(start);
        let scheduler = LocalScheduler::new(Arc::new(clock.clone()));
        let recorder = Arc::new(Recorder {
            clock: clock.clone(),
            seen: Mutex::default(),
        });
        scheduler.set_runner(recorder.clone());
        for (phone, minutes) in [("b", 20), ("a", 10), ("late", 120)] {
            let input = job(phone);
            let fire_at = start + chrono::Duration::minutes(minutes);
            scheduler
                .schedule(Schedule {
                    name: input.schedule_name(),
                    fire_at,
                    input,
                })
                .await
                .unwrap();
        }
        let cancelled = job("cancelled");
        scheduler
            .schedule(Schedule {
                name: "x".into(),
                fire_at: start,
                input: cancelled,
            })
            .await
            .unwrap();
        scheduler.cancel("x").await.unwrap();

        let fired = scheduler
            .advance(&clock, start + chrono::Duration::hours(1))
            .await
            .unwrap();

        assert_eq!(fired, 2);
        let seen = recorder.seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            vec![
                ("a".to_string(), start + chrono::Duration::minutes(10)),
                ("b".to_string(), start + chrono::Duration::minutes(20)),
            ]
        );
        assert_eq!(clock.now(), start + chrono::Duration::hours(1));
        assert_eq!(scheduler.pending().len(), 1);
        assert!(scheduler.advance(&clock, start).await.is_err());
    }
}
