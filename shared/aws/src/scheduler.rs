//! EventBridge Scheduler as the scheduler port: one one-shot schedule per step job.
//!
//! Each schedule is `at(yyyy-mm-ddThh:mm:ss)` in UTC (the instant comes from the calendar, never
//! from the scheduler's own time-zone handling), deletes itself after it fired, and sends the
//! step job (its input, as JSON) as one message to the step queue, which the sender consumes.
//! Step jobs Scheduler cannot deliver to that queue go to the schedules' dead-letter queue;
//! step jobs the sender fails to run are the step queue's own business (its redrive policy).
//!
//! With the step queue's URL (`RITMO_STEP_QUEUE_URL`, the `sqs` feature), a step job due within
//! [`DIRECT_HORIZON`] skips Scheduler: it is sent to the step queue at once as a message delayed
//! to its instant, to the second (Scheduler fires one-shot schedules within about a minute, so a
//! send slot seconds away would be missed), for one request instead of a schedule. Such a job
//! cannot be cancelled; it does not need to be: a job whose run moved on (ended, or planned
//! again under a new generation, hence a new name) is stale when it arrives, and a job that
//! arrives twice is claimed once.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode,
    ScheduleState, Target,
};
use aws_sdk_scheduler::Client;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use ritmo_core::common::clock::Clock;
use ritmo_core::delivery::ports::{Schedule, Scheduler};
use ritmo_core::PortError;
use sha2::{Digest, Sha256};

use crate::config::SchedulerConfig;

/// A due time in the past fires this long from now.
pub const PAST_DUE_DELAY: TimeDelta = TimeDelta::minutes(1);

/// The longest SQS delays a message (`DelaySeconds` at most 900).
pub const DIRECT_HORIZON: TimeDelta = TimeDelta::seconds(900);

/// The `DelaySeconds` that brings a job due at `fire_at` no earlier than that (0 when due), or
/// `None` when it is further than [`DIRECT_HORIZON`] away.
pub fn direct_delay(fire_at: DateTime<Utc>, now: DateTime<Utc>) -> Option<i32> {
    let wait = fire_at - now;
    if wait > DIRECT_HORIZON {
        return None;
    }
    let millis = wait.num_milliseconds().max(0);
    Some(((millis + 999) / 1000) as i32)
}

pub struct EventBridgeScheduler {
    client: Client,
    config: SchedulerConfig,
    clock: Arc<dyn Clock>,
    #[cfg(feature = "sqs")]
    direct: Option<(aws_sdk_sqs::Client, String)>,
}

/// The schedule as EventBridge Scheduler gets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    pub expression: String,
    pub input: String,
}

/// `at(...)` of `fire_at`, rounded up to the whole second (never earlier than planned), or
/// `now + 1 minute` when `fire_at` is already past.
pub fn at_expression(fire_at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let at = if fire_at < now {
        now + PAST_DUE_DELAY
    } else {
        fire_at
    };
    let whole = at
        .duration_trunc(TimeDelta::seconds(1))
        .expect("a second divides any instant");
    let at = if whole < at {
        whole + TimeDelta::seconds(1)
    } else {
        whole
    };
    format!("at({})", at.format("%Y-%m-%dT%H:%M:%S"))
}

impl EventBridgeScheduler {
    pub fn new(client: Client, config: SchedulerConfig, clock: Arc<dyn Clock>) -> Self {
        Self {
            client,
            config,
            clock,
            #[cfg(feature = "sqs")]
            direct: None,
        }
    }

    /// Sends step jobs due within [`DIRECT_HORIZON`] straight to the step queue at `queue_url`.
    #[cfg(feature = "sqs")]
    pub fn with_direct_queue(mut self, sqs: aws_sdk_sqs::Client, queue_url: String) -> Self {
        self.direct = Some((sqs, queue_url));
        self
    }

    /// Sends the job to the step queue, delayed to its instant, when it is due soon enough;
    /// `false` when it is not (it becomes a schedule).
    #[cfg(feature = "sqs")]
    async fn send_direct(&self, schedule: &Schedule, input: &str) -> Result<bool, PortError> {
        let Some((sqs, url)) = &self.direct else {
            return Ok(false);
        };
        let Some(delay) = direct_delay(schedule.fire_at, self.clock.now()) else {
            return Ok(false);
        };
        sqs.send_message()
            .queue_url(url)
            .message_body(input)
            .delay_seconds(delay)
            .send()
            .await
            .map_err(|e| crate::sdk::port_error("SQS SendMessage of a step job failed", e))?;
        tracing::debug!(name = %schedule.name, delay_seconds = delay, "step job queued directly");
        Ok(true)
    }

    #[cfg(not(feature = "sqs"))]
    async fn send_direct(&self, _: &Schedule, _: &str) -> Result<bool, PortError> {
        Ok(false)
    }

    pub fn definition(&self, schedule: &Schedule) -> Result<Definition, PortError> {
        Ok(Definition {
            expression: at_expression(schedule.fire_at, self.clock.now()),
            input: serde_json::to_string(&schedule.input)
                .map_err(|e| PortError::with_source("could not serialize the step job", e))?,
        })
    }

    fn target(&self, input: &str) -> Result<Target, PortError> {
        Target::builder()
            .arn(&self.config.step_queue_arn)
            .role_arn(&self.config.role_arn)
            .input(input)
            .dead_letter_config(
                DeadLetterConfig::builder()
                    .arn(&self.config.dead_letter_arn)
                    .build(),
            )
            .build()
            .map_err(|e| PortError::with_source("could not build the schedule target", e))
    }

    fn window(&self) -> Result<FlexibleTimeWindow, PortError> {
        let window = match self.config.flexible_window {
            None => FlexibleTimeWindow::builder().mode(FlexibleTimeWindowMode::Off),
            Some(window) => FlexibleTimeWindow::builder()
                .mode(FlexibleTimeWindowMode::Flexible)
                .maximum_window_in_minutes((window.as_secs() / 60) as i32),
        };
        window
            .build()
            .map_err(|e| PortError::with_source("could not build the flexible time window", e))
    }
}

/// An idempotency token for one call: SDK retries of that call reuse it, so a retried create
/// cannot make a second schedule. It is not fixed per name: a schedule deleted after it fired
/// may rightly be created again under the same name, and a replayed token would then return
/// the deleted one instead of creating it.
fn client_token(name: &str, definition: &Definition) -> String {
    let mut hash = Sha256::new();
    hash.update(name.as_bytes());
    hash.update([0]);
    hash.update(definition.expression.as_bytes());
    hash.update([0]);
    hash.update(definition.input.as_bytes());
    hash.update([0]);
    hash.update(rand::random::<u64>().to_be_bytes());
    let digest = hash.finalize();
    digest.iter().take(32).map(|b| format!("{b:02x}")).collect()
}

#[async_trait]
impl Scheduler for EventBridgeScheduler {
    /// Creates the schedule; one that already exists under that name is updated to this
    /// definition.
    async fn schedule(&self, schedule: Schedule) -> Result<(), PortError> {
        let definition = self.definition(&schedule)?;
        if self.send_direct(&schedule, &definition.input).await? {
            return Ok(());
        }
        let created = self
            .client
            .create_schedule()
            .name(&schedule.name)
            .group_name(&self.config.group)
            .schedule_expression(&definition.expression)
            .schedule_expression_timezone("UTC")
            .flexible_time_window(self.window()?)
            .target(self.target(&definition.input)?)
            .action_after_completion(ActionAfterCompletion::Delete)
            .state(ScheduleState::Enabled)
            .client_token(client_token(&schedule.name, &definition))
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_conflict_exception()) =>
            {
                self.client
                    .update_schedule()
                    .name(&schedule.name)
                    .group_name(&self.config.group)
                    .schedule_expression(&definition.expression)
                    .schedule_expression_timezone("UTC")
                    .flexible_time_window(self.window()?)
                    .target(self.target(&definition.input)?)
                    .action_after_completion(ActionAfterCompletion::Delete)
                    .state(ScheduleState::Enabled)
                    .client_token(client_token(&schedule.name, &definition))
                    .send()
                    .await
                    .map_err(|e| crate::sdk::port_error("EventBridge UpdateSchedule failed", e))?;
                Ok(())
            }
            Err(error) => Err(crate::sdk::port_error(
                "EventBridge CreateSchedule failed",
                error,
            )),
        }
    }

    /// Deletes the schedule; one that does not exist (it fired, or was never made) is success.
    async fn cancel(&self, name: &str) -> Result<(), PortError> {
        match self
            .client
            .delete_schedule()
            .name(name)
            .group_name(&self.config.group)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(())
            }
            Err(error) => Err(crate::sdk::port_error(
                "EventBridge DeleteSchedule failed",
                error,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_expression_is_utc_to_the_second_rounded_up() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
        let fire = Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap();
        assert_eq!(at_expression(fire, now), "at(2026-11-24T09:00:00)");
        let fire = fire + TimeDelta::milliseconds(1);
        assert_eq!(at_expression(fire, now), "at(2026-11-24T09:00:01)");
    }

    #[test]
    fn a_past_due_time_fires_a_minute_from_now() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
        let past = now - TimeDelta::hours(3);
        assert_eq!(at_expression(past, now), "at(2026-11-23T12:01:00)");
        assert_eq!(at_expression(now, now), "at(2026-11-23T12:00:00)");
    }

    #[test]
    fn a_job_due_within_fifteen_minutes_is_delayed_to_the_second_never_earlier() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
        assert_eq!(direct_delay(now - TimeDelta::hours(1), now), Some(0));
        assert_eq!(direct_delay(now, now), Some(0));
        assert_eq!(direct_delay(now + TimeDelta::milliseconds(1), now), Some(1));
        assert_eq!(
            direct_delay(now + TimeDelta::milliseconds(4_250), now),
            Some(5)
        );
        assert_eq!(direct_delay(now + TimeDelta::seconds(900), now), Some(900));
        assert_eq!(
            direct_delay(now + TimeDelta::milliseconds(900_001), now),
            None
        );
    }

    #[test]
    fn client_tokens_fit_the_api_and_differ_per_call() {
        let definition = Definition {
            expression: "at(2026-11-24T09:00:00)".into(),
            input: "{}".into(),
        };
        let a = client_token("n", &definition);
        let b = client_token("n", &definition);
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
    }
}
