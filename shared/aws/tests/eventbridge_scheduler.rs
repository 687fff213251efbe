//! The EventBridge Scheduler adapter against a Scheduler-compatible endpoint
//! (`RITMO_TEST_SCHEDULER_ENDPOINT`, set by `infra/test.sh`;
//! `#[ignore]`d without the emulator).
//!
//! The emulator stores what it is given and answers `GetSchedule` with it; it does not
//! implement `ClientToken` (accepted, not checked) and never fires a schedule.

use std::sync::Arc;

use aws_sdk_scheduler::types::{ActionAfterCompletion, FlexibleTimeWindowMode, ScheduleState};
use chrono::{TimeDelta, TimeZone, Utc};
use ritmo_aws::{EventBridgeScheduler, SchedulerConfig};
use ritmo_core::common::clock::{Clock, ManualClock};
use ritmo_core::common::tenant::TenantId;
use ritmo_core::delivery::ports::{Schedule, Scheduler, StepJob};
use ulid::Ulid;

struct Fixture {
    client: aws_sdk_scheduler::Client,
    clock: ManualClock,
    config: SchedulerConfig,
}

impl Fixture {
    async fn new(flexible_minutes: Option<u64>) -> Self {
        let endpoint = ritmo_aws::local::emulator_endpoint("RITMO_TEST_SCHEDULER_ENDPOINT");
        let sdk = ritmo_aws::local::sdk_config_for_endpoint(&endpoint).await;
        let client = aws_sdk_scheduler::Client::new(&sdk);
        let group = format!("ritmo-test-{}", Ulid::new().to_string().to_lowercase());
        client
            .create_schedule_group()
            .name(&group)
            .send()
            .await
            .expect("schedule group created");
        Self {
            client,
            clock: ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap()),
            config: SchedulerConfig {
                group,
                step_queue_arn: "arn:aws:sqs:us-east-1:123456789012:ritmo-steps".into(),
                role_arn: "arn:aws:iam::123456789012:role/ritmo-scheduler".into(),
                dead_letter_arn: "arn:aws:sqs:us-east-1:123456789012:ritmo-schedules-dlq".into(),
                flexible_window: flexible_minutes.map(|m| std::time::Duration::from_secs(m * 60)),
                step_queue_url: None,
            },
        }
    }

    fn scheduler(&self) -> EventBridgeScheduler {
        EventBridgeScheduler::new(
            self.client.clone(),
            self.config.clone(),
            Arc::new(self.clock.clone()),
        )
    }

    async fn get(
        &self,
        name: &str,
    ) -> Option<aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput> {
        match self
            .client
            .get_schedule()
            .name(name)
            .group_name(&self.config.group)
            .send()
            .await
        {
            Ok(out) => Some(out),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                None
            }
            Err(error) => panic!("GetSchedule failed: {error:?}"),
        }
    }
}

fn job() -> StepJob {
    StepJob {
        tenant: TenantId::parse("acme").unwrap(),
        sequence_id: Ulid::new(),
        enrollment_id: Ulid::new(),
        phone: "+5511987654321".into(),
        step_id: Ulid::new(),
        attempt: 3,
        slot: None,
        accepted: None,
    }
}

#[tokio::test]
#[ignore = "needs the AWS emulator: infra/test.sh runs it"]
async fn a_schedule_is_a_utc_one_shot_that_deletes_itself_and_targets_the_step_queue() {
    let f = Fixture::new(None).await;
    let input = job();
    let name = input.schedule_name();
    let fire_at = Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap();
    f.scheduler()
        .schedule(Schedule {
            name: name.clone(),
            fire_at,
            input: input.clone(),
        })
        .await
        .unwrap();

    let got = f.get(&name).await.expect("the schedule exists");
    assert_eq!(got.schedule_expression(), Some("at(2026-11-30T12:00:00)"));
    assert_eq!(got.schedule_expression_timezone(), Some("UTC"));
    assert_eq!(
        got.action_after_completion(),
        Some(&ActionAfterCompletion::Delete)
    );
    assert_eq!(got.state(), Some(&ScheduleState::Enabled));
    assert_eq!(got.group_name(), Some(f.config.group.as_str()));
    let window = got.flexible_time_window().unwrap();
    assert_eq!(window.mode(), &FlexibleTimeWindowMode::Off);
    let target = got.target().unwrap();
    assert_eq!(target.arn(), f.config.step_queue_arn);
    assert_eq!(target.role_arn(), f.config.role_arn);
    assert_eq!(
        target.dead_letter_config().and_then(|d| d.arn()),
        Some(f.config.dead_letter_arn.as_str())
    );
    let sent: StepJob = serde_json::from_str(target.input().unwrap()).unwrap();
    assert_eq!(sent, input);
}

#[tokio::test]
#[ignore = "needs the AWS emulator: infra/test.sh runs it"]
async fn a_flexible_window_is_used_when_configured() {
    let f = Fixture::new(Some(15)).await;
    let input = job();
    let name = input.schedule_name();
    f.scheduler()
        .schedule(Schedule {
            name: name.clone(),
            fire_at: Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap(),
            input,
        })
        .await
        .unwrap();
    let got = f.get(&name).await.unwrap();
    let window = got.flexible_time_window().unwrap();
    assert_eq!(window.mode(), &FlexibleTimeWindowMode::Flexible);
    assert_eq!(window.maximum_window_in_minutes(), Some(15));
}

#[tokio::test]
#[ignore = "needs the AWS emulator: infra/test.sh runs it"]
async fn scheduling_an_existing_name_again_updates_it() {
    let f = Fixture::new(None).await;
    let input = job();
    let name = input.schedule_name();
    let scheduler = f.scheduler();
    for day in [30, 30, 29] {
        scheduler
            .schedule(Schedule {
                name: name.clone(),
                fire_at: Utc.with_ymd_and_hms(2026, 11, day, 9, 30, 0).unwrap(),
                input: input.clone(),
            })
            .await
            .unwrap();
    }
    let got = f.get(&name).await.unwrap();
    assert_eq!(got.schedule_expression(), Some("at(2026-11-29T09:30:00)"));
}

#[tokio::test]
#[ignore = "needs the AWS emulator: infra/test.sh runs it"]
async fn a_past_due_time_is_scheduled_a_minute_from_now() {
    let f = Fixture::new(None).await;
    let input = job();
    let name = input.schedule_name();
    f.scheduler()
        .schedule(Schedule {
            name: name.clone(),
            fire_at: f.clock.now() - TimeDelta::hours(2),
            input,
        })
        .await
        .unwrap();
    let got = f.get(&name).await.unwrap();
    assert_eq!(got.schedule_expression(), Some("at(2026-11-23T12:01:00)"));
}

#[tokio::test]
#[ignore = "needs the AWS emulator: infra/test.sh runs it"]
async fn cancel_deletes_and_cancelling_a_missing_schedule_is_success() {
    let f = Fixture::new(None).await;
    let input = job();
    let name = input.schedule_name();
    let scheduler = f.scheduler();
    scheduler
        .schedule(Schedule {
            name: name.clone(),
            fire_at: Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap(),
            input,
        })
        .await
        .unwrap();
    scheduler.cancel(&name).await.unwrap();
    assert!(f.get(&name).await.is_none());
    scheduler.cancel(&name).await.unwrap();
    scheduler.cancel("never-existed").await.unwrap();
}

/// With the step queue's URL, a job due within 15 minutes is a delayed message on the queue
/// (the same body a schedule would deliver) and no schedule; a later one is a schedule.
#[cfg(feature = "sqs")]
#[tokio::test]
#[ignore = "needs the AWS emulator: infra/test.sh runs it"]
async fn a_job_due_soon_goes_straight_to_the_step_queue_and_a_later_one_is_a_schedule() {
    let f = Fixture::new(None).await;
    let endpoint = std::env::var("RITMO_TEST_SCHEDULER_ENDPOINT").unwrap();
    let sdk = ritmo_aws::local::sdk_config_for_endpoint(&endpoint).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = sqs
        .create_queue()
        .queue_name(format!("ritmo-steps-{}", Ulid::new()))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let scheduler = f.scheduler().with_direct_queue(sqs.clone(), url.clone());

    let due = job();
    scheduler
        .schedule(Schedule {
            name: due.schedule_name(),
            fire_at: f.clock.now() - TimeDelta::seconds(30),
            input: due.clone(),
        })
        .await
        .unwrap();
    let later = job();
    scheduler
        .schedule(Schedule {
            name: later.schedule_name(),
            fire_at: f.clock.now() + TimeDelta::minutes(16),
            input: later.clone(),
        })
        .await
        .unwrap();

    assert!(
        f.get(&due.schedule_name()).await.is_none(),
        "no schedule for the job due now"
    );
    assert!(
        f.get(&later.schedule_name()).await.is_some(),
        "the later job is a schedule"
    );
    let received = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let bodies: Vec<StepJob> = received
        .messages()
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect();
    assert_eq!(
        bodies,
        std::slice::from_ref(&due),
        "one message, the step job itself"
    );
    // Cancelling a job that went to the queue is a no-op (there is no schedule to delete).
    scheduler.cancel(&due.schedule_name()).await.unwrap();
}
