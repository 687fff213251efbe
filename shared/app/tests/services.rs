//! The use cases on the in-memory adapters with a manual clock: the sender's outcomes, the
//! enrollment transitions, and webhook events, named by behaviour. No HTTP in between.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use ritmo_app::local::{Local, LocalAdapters};
use ritmo_core::channels::model::{Bot, Channel, ParameterNames, TemplateCategory, TemplateInfo};
use ritmo_core::channels::store::ChannelStore;
use ritmo_core::common::clock::{Clock, ManualClock};
use ritmo_core::common::ids::UlidGen;
use ritmo_core::common::page::{Page, PageRequest};
use ritmo_core::common::retry::Backoff;
use ritmo_core::common::store::{Expect, WriteError};
use ritmo_core::common::tenant::TenantId;
use ritmo_core::delivery::inbound::InboundEvent;
use ritmo_core::delivery::ports::{
    ChatbotStart, Messenger, Scheduler, SendReceipt, StepRunner, TemplateMessage,
};
use ritmo_core::delivery::sender::MAX_RETRIES;
use ritmo_core::enrollments::model::Enrollment;
use ritmo_core::enrollments::model::{
    EnrollmentStatus, ExitReason, MessageStatus, PricingCategory, SendError, StatusFailure,
    StatusUpdate,
};
use ritmo_core::enrollments::store::{
    ClaimOutcome, ContactRun, EnrollmentStore, IndexWrites, MessageRecord, StepClaim,
};
use ritmo_core::jobs::{ChunkOutcome, JobKind, JobStatus};
use ritmo_core::sequences::model::Sequence;
use ritmo_core::sequences::model::SequenceStatus;
use ritmo_core::sequences::store::SequenceStore;
use ritmo_core::PortError;
use ritmo_memory::{LocalJobQueue, LocalScheduler};
use ulid::Ulid;

/// A messenger that records every template it is asked to send and fails the next sends with
/// the errors queued in `fail`.
#[derive(Default)]
struct Recorder {
    sent: Mutex<Vec<TemplateMessage>>,
    fail: Mutex<Vec<SendError>>,
    /// The WhatsApp id the send responses report, when set.
    wa_id: Mutex<Option<String>>,
}

#[async_trait]
impl Messenger for Recorder {
    async fn send_template(
        &self,
        _: &Channel,
        message: &TemplateMessage,
    ) -> Result<SendReceipt, SendError> {
        if let Some(error) = self.fail.lock().unwrap().pop() {
            return Err(error);
        }
        let mut sent = self.sent.lock().unwrap();
        sent.push(message.clone());
        Ok(SendReceipt {
            message_id: format!("wamid.{}", sent.len()),
            wa_id: self.wa_id.lock().unwrap().clone(),
        })
    }

    async fn start_chatbot(&self, _: &Bot, _: &ChatbotStart) -> Result<(), SendError> {
        Ok(())
    }

    async fn templates(&self, _: &Channel) -> Result<Vec<TemplateInfo>, PortError> {
        Ok(vec![TemplateInfo {
            name: "promo".into(),
            language: "pt_BR".into(),
            status: "APPROVED".into(),
            category: TemplateCategory::Marketing,
            body_parameters: 1,
            // Named, as WhatsApp Manager creates templates: `Olá {{first_name}}`.
            body_parameter_names: vec!["first_name".into()],
            header: None,
            buttons: vec![],
            unsupported: vec![],
        }])
    }
}

struct World {
    ritmo: Local,
    clock: ManualClock,
    scheduler: Arc<LocalScheduler>,
    messenger: Arc<Recorder>,
    /// The in-process job queue: background jobs run when a test says so.
    jobs: Arc<LocalJobQueue>,
    tenant: TenantId,
    sequence_id: Ulid,
}

const ANA: &str = "+5511987654321";

fn monday_noon() -> DateTime<Utc> {
    "2026-11-23T12:00:00Z".parse().unwrap()
}

/// An active sequence of two template steps a day apart, any time, exit on reply, with Ana
/// enrolled; the sender is the scheduler's runner.
async fn world() -> World {
    world_with(|_| {}).await
}

/// [`world`] with some adapters replaced before anything is built or stored.
async fn world_with(adapt: impl FnOnce(&mut LocalAdapters)) -> World {
    let clock = ManualClock::new(monday_noon());
    let shared: Arc<dyn Clock> = Arc::new(clock.clone());
    let scheduler = LocalScheduler::new(shared.clone());
    let messenger = Arc::new(Recorder::default());
    let mut adapters = LocalAdapters::in_memory(
        shared.clone(),
        Arc::new(UlidGen::new(shared)),
        messenger.clone(),
        scheduler.clone(),
    );
    adapt(&mut adapters);
    let ritmo = Local::new(adapters);
    let jobs = ritmo.job_queue().clone();
    let tenant = TenantId::parse("acme").unwrap();
    let channel = ritmo
        .channel_service()
        .create_channel(
            &tenant,
            serde_json::from_value(serde_json::json!({"name": "Loja", "phone_number_id": "1098765432",
                "waba_id": "2098765432", "display_phone": "+55 11 4000-0000", "access_token": "EAAG-token"}))
            .unwrap(),
        )
        .await
        .unwrap();
    let sequences = ritmo.sequence_service();
    let sequence = sequences
        .create_sequence(
            &tenant,
            serde_json::from_value(serde_json::json!({"name": "Promo", "time_zone": "America/Sao_Paulo", "exit_on_reply": true}))
                .unwrap(),
        )
        .await
        .unwrap();
    for amount in [1, 24] {
        sequences
            .add_step(
                &tenant,
                sequence.id,
                serde_json::from_value(serde_json::json!({"channel_id": channel.id,
                    "action": {"type": "template", "name": "promo", "language": "pt_BR",
                               "parameters": ["{{contact.name|cliente}}"]},
                    "delay": {"amount": amount, "unit": "hours"}}))
                .unwrap(),
            )
            .await
            .unwrap();
    }
    sequences
        .activate_sequence(&tenant, sequence.id)
        .await
        .unwrap();
    let results = ritmo
        .enrollment_service()
        .enroll(
            &tenant,
            sequence.id,
            vec![serde_json::from_value(serde_json::json!({"phone": ANA, "name": "Ana"})).unwrap()],
        )
        .await
        .unwrap();
    assert_eq!(
        results[0].next_send_at,
        Some(monday_noon() + TimeDelta::hours(1))
    );
    World {
        ritmo,
        clock,
        scheduler,
        messenger,
        jobs,
        tenant,
        sequence_id: sequence.id,
    }
}

impl World {
    async fn advance(&self, hours: i64) {
        let to = self.clock.now() + TimeDelta::hours(hours);
        self.scheduler.advance(&self.clock, to).await.unwrap();
    }

    fn sent(&self) -> Vec<TemplateMessage> {
        self.messenger.sent.lock().unwrap().clone()
    }

    async fn status(&self) -> (EnrollmentStatus, Option<ExitReason>) {
        let e = self.enrollment().await;
        (e.status, e.exit_reason)
    }

    /// Ana's run as the API shows it.
    async fn enrollment(&self) -> Enrollment {
        self.ritmo
            .enrollment_service()
            .enrollment(&self.tenant, self.sequence_id, ANA)
            .await
            .unwrap()
    }

    async fn stats(&self) -> ritmo_core::enrollments::stats::SequenceStats {
        self.ritmo
            .stats_service()
            .sequence_stats(&self.tenant, self.sequence_id)
            .await
            .unwrap()
    }

    async fn sequence(&self) -> Sequence {
        self.ritmo
            .sequence_service()
            .sequence(&self.tenant, self.sequence_id)
            .await
            .unwrap()
    }

    async fn job(&self, id: Ulid) -> ritmo_core::jobs::Job {
        self.ritmo
            .job_service()
            .job(&self.tenant, id)
            .await
            .unwrap()
    }

    async fn cancel_job(&self, id: Ulid) -> ritmo_core::jobs::JobView {
        self.ritmo
            .job_service()
            .cancel(&self.tenant, id)
            .await
            .unwrap()
    }

    async fn check_upload(&self, id: Ulid) -> ChunkOutcome {
        self.ritmo
            .job_runner()
            .check_upload(&self.tenant, id)
            .await
            .unwrap()
    }

    /// Webhook events applied as the webhook worker applies them.
    async fn apply(
        &self,
        events: Vec<InboundEvent>,
    ) -> ritmo_core::delivery::inbound::WebhookReport {
        self.ritmo.inbound().apply(events).await.unwrap()
    }

    /// Ana's run as the enrollment store has it.
    async fn stored(&self) -> Enrollment {
        self.ritmo
            .base()
            .stores
            .enrollments
            .get_enrollment(&self.tenant, self.sequence_id, ANA)
            .await
            .unwrap()
            .unwrap()
    }

    /// The first pending schedule, with the clock set to its time.
    fn first_due(&self) -> ritmo_core::delivery::ports::Schedule {
        let job = self.scheduler.pending().remove(0);
        self.clock.set(job.fire_at).unwrap();
        job
    }
}

#[tokio::test]
async fn each_step_goes_out_once_at_its_time_and_the_run_completes() {
    let w = world().await;
    w.advance(1).await;
    assert_eq!(w.sent().len(), 1);
    assert_eq!(w.sent()[0].body_parameters, ["Ana"]);
    assert_eq!(
        w.sent()[0].parameter_names,
        Some(ParameterNames {
            body: vec!["first_name".into()],
            header: None
        })
    );
    assert_eq!(w.sent()[0].to.as_str(), ANA);
    w.advance(23).await;
    assert_eq!(
        w.sent().len(),
        1,
        "the second step waits 24 h after the first send"
    );
    w.advance(1).await;
    assert_eq!(w.sent().len(), 2);
    assert_eq!(w.status().await, (EnrollmentStatus::Completed, None));
}

#[tokio::test]
async fn a_repeated_delivery_of_the_same_job_sends_nothing_more() {
    let w = world().await;
    let job = w.scheduler.pending()[0].input.clone();
    w.clock.set(w.scheduler.pending()[0].fire_at).unwrap();
    let sender = w.ritmo.sender();
    sender.run(job.clone()).await.unwrap();
    sender.run(job.clone()).await.unwrap();
    sender.run(job).await.unwrap();
    assert_eq!(w.sent().len(), 1);
}

#[tokio::test]
async fn removed_contact_gets_no_further_step() {
    let w = world().await;
    w.ritmo
        .enrollment_service()
        .remove_contact(&w.tenant, w.sequence_id, "+55 11 98765-4321")
        .await
        .unwrap();
    assert!(w.scheduler.pending().is_empty(), "its schedule was deleted");
    w.advance(48).await;
    assert!(w.sent().is_empty());
    assert_eq!(w.status().await.0, EnrollmentStatus::Removed);
}

#[tokio::test]
async fn throttling_is_retried_and_the_step_goes_out_once() {
    let w = world().await;
    w.messenger.fail.lock().unwrap().push(SendError::Throttled {
        code: Some(130429),
        detail: "rate limit hit".into(),
    });
    w.advance(1).await;
    assert!(w.sent().is_empty());
    w.advance(1).await;
    assert_eq!(w.sent().len(), 1);
    assert_eq!(w.status().await.0, EnrollmentStatus::Active);
}

#[tokio::test]
async fn throttling_never_uses_up_the_contacts_retries() {
    let w = world().await;
    for _ in 0..(MAX_RETRIES + 3) {
        w.messenger.fail.lock().unwrap().push(SendError::Throttled {
            code: Some(130429),
            detail: "rate limit hit".into(),
        });
    }
    for _ in 0..4 {
        w.advance(1).await;
    }
    assert_eq!(w.sent().len(), 1, "sent once throttling stopped");
    assert_eq!(w.status().await.0, EnrollmentStatus::Active);
}

#[tokio::test]
async fn an_undeliverable_contact_exits_and_gets_nothing_more() {
    let w = world().await;
    w.messenger.fail.lock().unwrap().push(SendError::Contact {
        code: 131026,
        detail: "Message undeliverable".into(),
    });
    w.advance(48).await;
    assert!(w.sent().is_empty());
    assert_eq!(
        w.status().await,
        (EnrollmentStatus::Exited, Some(ExitReason::Undeliverable))
    );
}

#[tokio::test]
async fn a_template_error_pauses_the_sequence_and_keeps_the_enrollment() {
    let w = world().await;
    w.messenger.fail.lock().unwrap().push(SendError::Template {
        code: 132001,
        detail: "Template name does not exist in the translation".into(),
    });
    w.advance(1).await;
    let sequence = w.sequence().await;
    assert_eq!(sequence.status, SequenceStatus::Paused);
    assert!(sequence.status_reason.unwrap().contains("132001"));
    assert_eq!(w.status().await.0, EnrollmentStatus::Active);
    w.ritmo
        .sequence_service()
        .resume_sequence(&w.tenant, w.sequence_id)
        .await
        .unwrap();
    w.jobs.run_until_idle().await;
    w.advance(1).await;
    assert_eq!(w.sent().len(), 1, "sent after resume");
}

#[tokio::test]
async fn a_reply_ends_the_run_in_a_sequence_that_exits_on_reply() {
    let w = world().await;
    w.advance(1).await;
    let report = w
        .apply(vec![InboundEvent::Message {
            phone_number_id: "1098765432".into(),
            from: "5511987654321".into(),
        }])
        .await;
    assert_eq!(report.replies, 1);
    assert_eq!(
        w.status().await,
        (EnrollmentStatus::Exited, Some(ExitReason::Replied))
    );
    w.advance(48).await;
    assert_eq!(w.sent().len(), 1, "nothing after the reply");
}

#[tokio::test]
async fn statuses_apply_in_any_order_and_a_message_never_goes_back_from_read() {
    let w = world().await;
    w.advance(1).await;
    let callback = w.sent()[0].callback_data.clone();
    let status = |s: MessageStatus| billed_status(&callback, s);
    let inbound = w.ritmo.inbound();
    inbound
        .apply(vec![
            status(MessageStatus::Read),
            status(MessageStatus::Delivered),
            status(MessageStatus::Sent),
            status(MessageStatus::Read),
        ])
        .await
        .unwrap();
    let e = w.enrollment().await;
    assert_eq!(e.history[0].status, Some(MessageStatus::Read));
    let stats = w.stats().await;
    assert_eq!(
        (
            stats.steps[0].sent,
            stats.steps[0].delivered,
            stats.steps[0].read
        ),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn an_event_for_a_number_no_tenant_has_is_ignored() {
    let w = world().await;
    let report = w
        .apply(vec![
            InboundEvent::Message {
                phone_number_id: "999".into(),
                from: "5511987654321".into(),
            },
            InboundEvent::Ignored,
        ])
        .await;
    assert_eq!((report.replies, report.ignored), (0, 2));
    assert_eq!(w.status().await.0, EnrollmentStatus::Active);
}

/// A channel store that counts the look-ups of a phone number id's channel.
struct CountedLookups {
    inner: Arc<dyn ChannelStore>,
    lookups: AtomicUsize,
}

#[async_trait]
impl ChannelStore for CountedLookups {
    async fn put_channel(&self, channel: &Channel) -> Result<(), PortError> {
        self.inner.put_channel(channel).await
    }
    async fn get_channel(&self, tenant: &TenantId, id: Ulid) -> Result<Option<Channel>, PortError> {
        self.inner.get_channel(tenant, id).await
    }
    async fn list_channels(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Channel>, PortError> {
        self.inner.list_channels(tenant, page).await
    }
    async fn delete_channel(&self, tenant: &TenantId, id: Ulid) -> Result<bool, PortError> {
        self.inner.delete_channel(tenant, id).await
    }
    async fn channels_by_waba_id(&self, waba_id: &str) -> Result<Vec<Channel>, PortError> {
        self.inner.channels_by_waba_id(waba_id).await
    }
    async fn channel_by_phone_number_id(
        &self,
        phone_number_id: &str,
    ) -> Result<Option<Channel>, PortError> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.inner.channel_by_phone_number_id(phone_number_id).await
    }
}

#[tokio::test]
async fn a_busy_numbers_statuses_look_its_channel_up_once_per_snapshot_time() {
    let counted = Arc::new(std::sync::OnceLock::<Arc<CountedLookups>>::new());
    let slot = counted.clone();
    let w = world_with(move |adapters| {
        let store = Arc::new(CountedLookups {
            inner: adapters.base.stores.channels.clone(),
            lookups: AtomicUsize::new(0),
        });
        adapters.base.stores.channels = store.clone();
        let _ = slot.set(store);
    })
    .await;
    let lookups = || counted.get().unwrap().lookups.load(Ordering::SeqCst);
    w.advance(1).await;
    let callback = Some(w.sent()[0].callback_data.clone());
    let inbound = w.ritmo.inbound();
    let before = lookups();
    for status in [MessageStatus::Sent, MessageStatus::Delivered] {
        let report = inbound
            .apply(vec![status_of("wamid.1", status, callback.clone())])
            .await
            .unwrap();
        assert_eq!(report.statuses, 1);
    }
    assert_eq!(lookups() - before, 1, "two notifications, one look-up");
    // Past the snapshot time, the number's channel is read again.
    w.clock
        .set(w.clock.now() + ritmo_core::delivery::sender::SNAPSHOT_TTL)
        .unwrap();
    let report = inbound
        .apply(vec![status_of("wamid.1", MessageStatus::Read, callback)])
        .await
        .unwrap();
    assert_eq!(report.statuses, 1);
    assert_eq!(lookups() - before, 2);
}

/// Meta's status of the first message sent, as the webhook adapter reads it.
/// Meta's status of the first send (`wamid.1`), billed as marketing.
fn billed_status(callback: &str, status: MessageStatus) -> InboundEvent {
    InboundEvent::Status {
        phone_number_id: "1098765432".into(),
        status: StatusUpdate {
            message_id: "wamid.1".into(),
            status,
            recipient_id: "5511987654321".into(),
            callback_data: Some(callback.into()),
            billable: true,
            category: Some(PricingCategory::Marketing),
            failure: None,
        },
    }
}

fn status_of(message_id: &str, status: MessageStatus, callback: Option<String>) -> InboundEvent {
    InboundEvent::Status {
        phone_number_id: "1098765432".into(),
        status: StatusUpdate {
            message_id: message_id.into(),
            status,
            recipient_id: "551187654321".into(),
            callback_data: callback,
            billable: false,
            category: None,
            failure: None,
        },
    }
}

#[tokio::test]
async fn a_brazilian_contact_under_its_eight_digit_whatsapp_id_is_found_by_status_and_reply() {
    let w = world().await;
    w.advance(1).await;
    let report = w
        .apply(vec![status_of(
            "wamid.1",
            MessageStatus::Delivered,
            Some(w.sent()[0].callback_data.clone()),
        )])
        .await;
    assert_eq!(report.statuses, 1);
    let report = w
        .apply(vec![InboundEvent::Message {
            phone_number_id: "1098765432".into(),
            from: "551187654321".into(),
        }])
        .await;
    assert_eq!(report.replies, 1);
    assert_eq!(
        w.status().await,
        (EnrollmentStatus::Exited, Some(ExitReason::Replied))
    );
    let stats = w.stats().await;
    assert_eq!((stats.steps[0].delivered, stats.steps[0].replied), (1, 1));
}

#[tokio::test]
async fn the_whatsapp_id_of_the_send_response_is_recorded_and_finds_the_contact() {
    let w = world().await;
    // Meta resolved the number to an id that is not a writing of it (as for some countries).
    *w.messenger.wa_id.lock().unwrap() = Some("5511900001111".into());
    w.advance(1).await;
    let e = w.enrollment().await;
    assert_eq!(e.history.len(), 1);
    let report = w
        .apply(vec![InboundEvent::Message {
            phone_number_id: "1098765432".into(),
            from: "5511900001111".into(),
        }])
        .await;
    assert_eq!(report.replies, 1);
    assert_eq!(w.status().await.0, EnrollmentStatus::Exited);
}

#[tokio::test]
async fn a_failed_status_without_callback_data_finds_its_send_by_message_id() {
    let w = world().await;
    w.advance(1).await;
    let failed = InboundEvent::Status {
        phone_number_id: "1098765432".into(),
        status: StatusUpdate {
            message_id: "wamid.1".into(),
            status: MessageStatus::Failed,
            recipient_id: "551187654321".into(),
            callback_data: None,
            billable: false,
            category: None,
            failure: Some(StatusFailure {
                code: 131026,
                detail: "Message undeliverable".into(),
                class: SendError::Contact {
                    code: 131026,
                    detail: "Message undeliverable".into(),
                },
            }),
        },
    };
    let report = w.apply(vec![failed]).await;
    assert_eq!(report.statuses, 1);
    assert_eq!(
        w.status().await,
        (EnrollmentStatus::Exited, Some(ExitReason::Undeliverable))
    );
    assert!(
        w.scheduler.pending().is_empty(),
        "the next step is cancelled"
    );
    w.advance(48).await;
    assert_eq!(w.sent().len(), 1);
}

#[tokio::test]
async fn a_status_that_arrives_before_its_send_is_recorded_is_applied_with_the_send() {
    let w = world().await;
    // Meta's `delivered` for the message the sender is about to record.
    let callback_of_first = {
        let job = w.scheduler.pending()[0].input.clone();
        ritmo_core::delivery::ports::callback_data(job.sequence_id, job.enrollment_id, job.step_id)
    };
    let early = status_of("wamid.1", MessageStatus::Delivered, Some(callback_of_first));
    let report = w.apply(vec![early.clone()]).await;
    assert_eq!((report.statuses, report.held), (0, 1));
    w.advance(1).await;
    let stats = w.stats().await;
    assert_eq!((stats.steps[0].sent, stats.steps[0].delivered), (1, 1));
    // The same status again, now that the send is known, changes nothing more.
    let report = w.apply(vec![early]).await;
    assert_eq!(report.statuses, 1);
}

#[tokio::test]
async fn a_status_of_a_message_ritmo_did_not_send_is_ignored_and_not_kept() {
    let w = world().await;
    w.advance(1).await;
    let report = w
        .apply(vec![status_of(
            "wamid.attendant",
            MessageStatus::Read,
            None,
        )])
        .await;
    assert_eq!((report.statuses, report.held, report.ignored), (0, 0, 1));
}

fn template_event(event: &str) -> InboundEvent {
    InboundEvent::TemplateStatus {
        waba_id: "2098765432".into(),
        name: "promo".into(),
        language: "pt_BR".into(),
        event: event.into(),
        reason: None,
    }
}

#[tokio::test]
async fn a_flagged_template_is_a_notice_and_a_later_approval_is_shown_after_a_pause() {
    let w = world().await;
    let inbound = w.ritmo.inbound();
    inbound
        .apply(vec![template_event("FLAGGED")])
        .await
        .unwrap();
    let sequence = w.sequence().await;
    assert_eq!(sequence.status, SequenceStatus::Active);
    assert_eq!(sequence.template_notices[0].event, "FLAGGED");
    inbound.apply(vec![template_event("PAUSED")]).await.unwrap();
    inbound
        .apply(vec![template_event("APPROVED")])
        .await
        .unwrap();
    let sequence = w.sequence().await;
    assert_eq!(
        sequence.status,
        SequenceStatus::Paused,
        "resume stays by hand"
    );
    assert_eq!(sequence.template_notices.len(), 1);
    assert_eq!(sequence.template_notices[0].event, "APPROVED");
}

#[tokio::test]
async fn a_category_update_changes_the_category_opt_outs_use() {
    let w = world().await;
    w.advance(1).await;
    let inbound = w.ritmo.inbound();
    let report = inbound
        .apply(vec![InboundEvent::TemplateCategory {
            waba_id: "2098765432".into(),
            name: "promo".into(),
            language: "pt_BR".into(),
            category: TemplateCategory::Utility,
        }])
        .await
        .unwrap();
    assert_eq!(report.recategorised_steps, 2);
    // The next step's template is now utility: a marketing stop does not end the run.
    let stop = InboundEvent::MarketingStop {
        phone_number_id: "1098765432".into(),
        wa_id: "5511987654321".into(),
    };
    assert_eq!(inbound.apply(vec![stop.clone()]).await.unwrap().opt_outs, 0);
    inbound
        .apply(vec![InboundEvent::TemplateCategory {
            waba_id: "2098765432".into(),
            name: "promo".into(),
            language: "pt_BR".into(),
            category: TemplateCategory::Marketing,
        }])
        .await
        .unwrap();
    assert_eq!(inbound.apply(vec![stop]).await.unwrap().opt_outs, 1);
    assert_eq!(
        w.status().await,
        (EnrollmentStatus::Exited, Some(ExitReason::OptedOut))
    );
}

#[tokio::test]
async fn a_service_priced_status_is_not_billed_as_the_templates_category() {
    let w = world().await;
    w.advance(1).await;
    let callback = w.sent()[0].callback_data.clone();
    let priced = |category| InboundEvent::Status {
        phone_number_id: "1098765432".into(),
        status: StatusUpdate {
            message_id: "wamid.1".into(),
            status: MessageStatus::Delivered,
            recipient_id: "5511987654321".into(),
            callback_data: Some(callback.clone()),
            billable: true,
            category: Some(category),
            failure: None,
        },
    };
    w.apply(vec![priced(PricingCategory::Service)]).await;
    let stats = w.stats().await;
    assert!(
        stats.steps[0].billable.is_empty(),
        "{:?}",
        stats.steps[0].billable
    );
    w.apply(vec![priced(PricingCategory::Utility)]).await;
    let stats = w.stats().await;
    assert_eq!(stats.steps[0].billable[&TemplateCategory::Utility], 1);
}

/// Counts how often the tenant's sequences are listed.
struct CountingSequences {
    inner: Arc<dyn SequenceStore>,
    listed: Arc<AtomicUsize>,
}

#[async_trait]
impl SequenceStore for CountingSequences {
    async fn put_sequence(&self, sequence: &Sequence, expect: Expect) -> Result<(), WriteError> {
        self.inner.put_sequence(sequence, expect).await
    }

    async fn get_sequence(
        &self,
        tenant: &TenantId,
        id: Ulid,
    ) -> Result<Option<Sequence>, PortError> {
        self.inner.get_sequence(tenant, id).await
    }

    async fn list_sequences(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Sequence>, PortError> {
        self.listed.fetch_add(1, Ordering::Relaxed);
        self.inner.list_sequences(tenant, page).await
    }
}

#[tokio::test]
async fn an_inbound_message_finds_the_contact_without_reading_the_tenants_sequences() {
    let listed = Arc::new(AtomicUsize::new(0));
    let counter = listed.clone();
    let w = world_with(move |a| {
        a.base.stores.sequences = Arc::new(CountingSequences {
            inner: a.base.stores.sequences.clone(),
            listed: counter,
        });
    })
    .await;
    w.advance(1).await;
    let before = listed.load(Ordering::Relaxed);
    let report = w
        .apply(vec![
            InboundEvent::Message {
                phone_number_id: "1098765432".into(),
                from: "551187654321".into(),
            },
            InboundEvent::Message {
                phone_number_id: "1098765432".into(),
                from: "5521900000000".into(),
            },
        ])
        .await;
    assert_eq!(report.replies, 1);
    assert_eq!(
        listed.load(Ordering::Relaxed),
        before,
        "no sequence listing"
    );
}

/// What an [`OnWrite`] store does with an enrollment write.
enum Write {
    /// Writes it as given.
    AsGiven,
    /// Writes the enrollment with these index entries instead.
    Indexing(IndexWrites),
    /// Refuses it with this error.
    Refused(WriteError),
}

type WriteHook = dyn Fn(&Enrollment, &IndexWrites) -> Write + Send + Sync;

/// An enrollment store that forwards every call to `inner`, but lets `hook` decide what each
/// enrollment write does (the trait's default writes, `put_enrollment` and
/// `write_enrollment_seeing_held`, go through it too).
struct OnWrite {
    inner: Arc<dyn EnrollmentStore>,
    hook: Box<WriteHook>,
}

impl OnWrite {
    fn new(
        inner: Arc<dyn EnrollmentStore>,
        hook: impl Fn(&Enrollment, &IndexWrites) -> Write + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Self {
            inner,
            hook: Box::new(hook),
        })
    }
}

#[async_trait]
impl EnrollmentStore for OnWrite {
    async fn get_enrollment(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
        phone: &str,
    ) -> Result<Option<Enrollment>, PortError> {
        self.inner.get_enrollment(tenant, sequence_id, phone).await
    }

    async fn write_enrollment(
        &self,
        enrollment: &Enrollment,
        expect: Expect,
        index: &IndexWrites,
    ) -> Result<(), WriteError> {
        match (self.hook)(enrollment, index) {
            Write::AsGiven => self.inner.write_enrollment(enrollment, expect, index).await,
            Write::Indexing(instead) => {
                self.inner
                    .write_enrollment(enrollment, expect, &instead)
                    .await
            }
            Write::Refused(error) => Err(error),
        }
    }

    async fn write_entry(
        &self,
        enrollment: &Enrollment,
        entry: &ritmo_core::enrollments::model::HistoryEntry,
        counters: &ritmo_core::enrollments::counters::Counts,
    ) -> Result<(), WriteError> {
        self.inner.write_entry(enrollment, entry, counters).await
    }

    async fn message(
        &self,
        tenant: &TenantId,
        message_id: &str,
    ) -> Result<Option<MessageRecord>, PortError> {
        self.inner.message(tenant, message_id).await
    }

    async fn history_entry(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
        phone: &str,
        enrollment_id: Ulid,
        step_id: Ulid,
    ) -> Result<Option<ritmo_core::enrollments::model::HistoryEntry>, PortError> {
        self.inner
            .history_entry(tenant, sequence_id, phone, enrollment_id, step_id)
            .await
    }

    async fn list_history(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
        phone: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<ritmo_core::enrollments::store::RunEntry>, PortError> {
        self.inner
            .list_history(tenant, sequence_id, phone, page)
            .await
    }

    async fn hold_status(
        &self,
        tenant: &TenantId,
        message_id: &str,
        status: &StatusUpdate,
        at: DateTime<Utc>,
    ) -> Result<bool, PortError> {
        self.inner.hold_status(tenant, message_id, status, at).await
    }

    async fn contact_runs(
        &self,
        tenant: &TenantId,
        contact_key: &str,
    ) -> Result<Vec<ContactRun>, PortError> {
        self.inner.contact_runs(tenant, contact_key).await
    }

    async fn sequence_counters(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
    ) -> Result<ritmo_core::enrollments::counters::Counts, PortError> {
        self.inner.sequence_counters(tenant, sequence_id).await
    }

    async fn claim_step(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
        phone: &str,
        claim: &StepClaim,
    ) -> Result<ClaimOutcome, PortError> {
        self.inner
            .claim_step(tenant, sequence_id, phone, claim)
            .await
    }

    async fn list_enrollments(
        &self,
        tenant: &TenantId,
        sequence_id: Ulid,
        status: Option<EnrollmentStatus>,
        page: &PageRequest,
    ) -> Result<Page<Enrollment>, PortError> {
        self.inner
            .list_enrollments(tenant, sequence_id, status, page)
            .await
    }

    async fn overdue(
        &self,
        pending: ritmo_core::enrollments::model::Pending,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ritmo_core::enrollments::store::OverdueRun>, PortError> {
        self.inner.overdue(pending, before, limit).await
    }
}

/// `inner` indexing nothing, as enrollments written before the indexes were; history has its
/// own items: those are written either way.
fn unindexed(inner: Arc<dyn EnrollmentStore>) -> Arc<OnWrite> {
    OnWrite::new(inner, |_, index| {
        Write::Indexing(IndexWrites {
            history: index.history.clone(),
            ..IndexWrites::default()
        })
    })
}

/// `inner` where ending the run of the contact with `phone` always fails.
fn refusing(inner: Arc<dyn EnrollmentStore>, phone: &str) -> Arc<OnWrite> {
    let phone = phone.to_string();
    OnWrite::new(inner, move |enrollment, _| {
        if enrollment.contact.phone == phone && !enrollment.is_active() {
            Write::Refused(WriteError::Port(PortError::new("refused")))
        } else {
            Write::AsGiven
        }
    })
}

/// Enrolls `count` more contacts (`+55119000xxxxx`) in the world's sequence.
async fn enroll_many(w: &World, count: usize) {
    let service = w.ritmo.enrollment_service();
    let phones: Vec<String> = (0..count).map(|i| format!("+55119000{i:05}")).collect();
    for chunk in phones.chunks(1000) {
        let contacts = chunk
            .iter()
            .map(|p| serde_json::from_value(serde_json::json!({"phone": p, "name": "C"})).unwrap())
            .collect();
        service
            .enroll(&w.tenant, w.sequence_id, contacts)
            .await
            .unwrap();
    }
}

/// Every active enrollment of the world's sequence, paged through the store.
async fn active_enrollments(w: &World) -> Vec<ritmo_core::enrollments::model::Enrollment> {
    let mut page = PageRequest::first(200);
    let mut all = Vec::new();
    loop {
        let batch = w
            .ritmo
            .base()
            .stores
            .enrollments
            .list_enrollments(
                &w.tenant,
                w.sequence_id,
                Some(EnrollmentStatus::Active),
                &page,
            )
            .await
            .unwrap();
        all.extend(batch.items);
        match batch.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => return all,
        }
    }
}

/// Archives the world's sequence: the job that ends its active enrollments.
async fn archive(w: &World) -> ritmo_core::jobs::Job {
    w.ritmo
        .sequence_service()
        .archive_sequence(&w.tenant, w.sequence_id)
        .await
        .unwrap()
}

async fn active_count(w: &World) -> usize {
    active_enrollments(w).await.len()
}

#[tokio::test]
async fn archive_answers_at_once_and_its_job_ends_every_active_enrollment() {
    let w = world().await;
    enroll_many(&w, 1_199).await;
    let job = archive(&w).await;
    assert_eq!(job.status, JobStatus::Queued);
    // The sequence is archived at once; the enrollments wait for the job.
    let sequence = w.sequence().await;
    assert_eq!(sequence.status, SequenceStatus::Archived);
    assert_eq!(active_count(&w).await, 1_200);
    w.jobs.run_until_idle().await;
    let job = w.job(job.id).await;
    assert_eq!(job.status, JobStatus::Succeeded);
    assert_eq!((job.total, job.done, job.failed), (1_200, 1_200, 0));
    assert!(job.finished_at.is_some());
    assert_eq!(active_count(&w).await, 0);
    assert!(
        w.scheduler.pending().is_empty(),
        "every pending schedule deleted"
    );
    assert_eq!(
        w.status().await,
        (EnrollmentStatus::Exited, Some(ExitReason::SequenceArchived))
    );
}

/// How many of the world's sequence's active enrollments hold their step (due while paused).
async fn held_count(w: &World) -> (usize, usize) {
    let active = active_enrollments(w).await;
    let held = active
        .iter()
        .filter(|e| {
            matches!(
                e.state,
                ritmo_core::enrollments::model::StepState::Held { .. }
            )
        })
        .count();
    (active.len(), held)
}

/// The acceptance size, 100,000 active enrollments: resume and archive change the sequence at
/// once and leave every enrollment to their jobs (the request walks none of them); the jobs end
/// with no step left held (resume) and no enrollment left active (archive).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_and_archive_of_100_000_enrollments_leave_the_walk_to_their_jobs() {
    let w = world().await;
    enroll_many(&w, 99_999).await;
    let sequences = w.ritmo.sequence_service();
    sequences
        .pause_sequence(&w.tenant, w.sequence_id)
        .await
        .unwrap();
    // Every first step comes due while paused (spread at the number's rate): each is held.
    w.advance(24).await;
    assert!(w.sent().is_empty());
    assert_eq!(held_count(&w).await, (100_000, 100_000));

    let job = sequences
        .resume_sequence(&w.tenant, w.sequence_id)
        .await
        .unwrap();
    assert_eq!(
        (job.kind, job.status),
        (JobKind::ResumeSequence, JobStatus::Queued)
    );
    let sequence = sequences.sequence(&w.tenant, w.sequence_id).await.unwrap();
    assert_eq!(sequence.status, SequenceStatus::Active, "active at once");
    assert_eq!(
        held_count(&w).await,
        (100_000, 100_000),
        "the request planned no step itself"
    );
    w.jobs.run_until_idle().await;
    let job = w.job(job.id).await;
    assert_eq!(
        (job.status, job.done, job.failed),
        (JobStatus::Succeeded, 100_000, 0)
    );
    assert_eq!(held_count(&w).await, (100_000, 0), "no step left held");
    assert_eq!(
        w.scheduler.pending().len(),
        100_000,
        "each step planned again"
    );

    let job = sequences
        .archive_sequence(&w.tenant, w.sequence_id)
        .await
        .unwrap();
    assert_eq!(
        (job.kind, job.status),
        (JobKind::ArchiveSequence, JobStatus::Queued)
    );
    let sequence = sequences.sequence(&w.tenant, w.sequence_id).await.unwrap();
    assert_eq!(
        sequence.status,
        SequenceStatus::Archived,
        "archived at once"
    );
    assert_eq!(
        active_count(&w).await,
        100_000,
        "the request ended no enrollment itself"
    );
    w.jobs.run_until_idle().await;
    let job = w.job(job.id).await;
    assert_eq!(
        (job.status, job.total, job.done, job.failed),
        (JobStatus::Succeeded, 100_000, 100_000, 0)
    );
    assert_eq!(active_count(&w).await, 0, "no enrollment left active");
    assert!(w.scheduler.pending().is_empty(), "every schedule deleted");
    let stats = w.stats().await;
    assert_eq!(stats.exit_reasons["sequence_archived"], 100_000);
}

#[tokio::test]
async fn a_job_resumes_from_its_stored_cursor_and_a_chunk_run_again_changes_nothing() {
    let w = world().await;
    enroll_many(&w, 1_199).await;
    let job = archive(&w).await;
    let runner = w.ritmo.job_runner();
    // One chunk: 500 enrollments (in pages of 200, so 600), then the cursor is stored.
    assert_eq!(
        runner.run_chunk(&w.tenant, job.id).await.unwrap(),
        ChunkOutcome::More
    );
    let after_one = w.job(job.id).await;
    assert_eq!(
        (after_one.status, after_one.done),
        (JobStatus::Running, 600)
    );
    assert!(after_one.cursor.is_some());
    assert_eq!(active_count(&w).await, 600);
    // A new runner (another process) goes on from the cursor.
    while w
        .ritmo
        .job_runner()
        .run_chunk(&w.tenant, job.id)
        .await
        .unwrap()
        == ChunkOutcome::More
    {}
    let done = w.job(job.id).await;
    assert_eq!(
        (done.status, done.total, done.done),
        (JobStatus::Succeeded, 1_200, 1_200)
    );
    // A redelivered chunk finds the job finished and changes nothing.
    assert_eq!(
        runner.run_chunk(&w.tenant, job.id).await.unwrap(),
        ChunkOutcome::Finished
    );
    let again = w.job(job.id).await;
    assert_eq!(again, done);
    assert_eq!(active_count(&w).await, 0);
}

#[tokio::test]
async fn a_cancelled_job_stops_at_its_next_chunk_and_a_finished_one_cannot_be_cancelled() {
    let w = world().await;
    enroll_many(&w, 999).await;
    let job = archive(&w).await;
    let runner = w.ritmo.job_runner();
    assert_eq!(
        runner.run_chunk(&w.tenant, job.id).await.unwrap(),
        ChunkOutcome::More
    );
    let cancelled = w.cancel_job(job.id).await;
    assert_eq!(cancelled.status, JobStatus::Cancelled);
    assert_eq!(
        runner.run_chunk(&w.tenant, job.id).await.unwrap(),
        ChunkOutcome::Finished
    );
    assert_eq!(active_count(&w).await, 400, "the walk stopped where it was");
    assert!(matches!(
        w.ritmo.job_service().cancel(&w.tenant, job.id).await,
        Err(ritmo_core::DomainError::Conflict(_))
    ));
}

#[tokio::test]
async fn an_enrollment_that_keeps_failing_is_counted_and_listed_and_the_job_goes_on() {
    let w = world_with(|a| {
        a.base.stores.enrollments = refusing(a.base.stores.enrollments.clone(), "+5511900000007")
    })
    .await;
    enroll_many(&w, 20).await;
    let job = w
        .ritmo
        .enrollment_service()
        .remove_enrollments(&w.tenant, w.sequence_id, EnrollmentStatus::Active)
        .await
        .unwrap();
    w.jobs.run_until_idle().await;
    let job = w.job(job.id).await;
    assert_eq!(job.status, JobStatus::Succeeded);
    assert_eq!((job.total, job.done, job.failed), (21, 20, 1));
    assert_eq!(
        job.errors_csv(),
        "phone,reason\n+5511900000007,the store or the scheduler did not answer\n"
    );
    assert_eq!(active_count(&w).await, 1);
    assert_eq!(w.status().await, (EnrollmentStatus::Removed, None));
}

#[tokio::test]
async fn a_resume_job_plans_every_held_step_again() {
    let w = world().await;
    enroll_many(&w, 29).await;
    let sequences = w.ritmo.sequence_service();
    sequences
        .pause_sequence(&w.tenant, w.sequence_id)
        .await
        .unwrap();
    // Every first step comes due while paused: each is held.
    w.advance(1).await;
    assert!(w.sent().is_empty());
    let job = sequences
        .resume_sequence(&w.tenant, w.sequence_id)
        .await
        .unwrap();
    assert_eq!(job.kind, JobKind::ResumeSequence);
    w.jobs.run_until_idle().await;
    let job = w.job(job.id).await;
    assert_eq!((job.status, job.done), (JobStatus::Succeeded, 30));
    w.advance(1).await;
    assert_eq!(
        w.sent().len(),
        30,
        "every held step sent once after the resume"
    );
}

#[tokio::test]
async fn a_status_of_a_send_recorded_before_the_message_index_is_found_by_its_callback() {
    let w =
        world_with(|a| a.base.stores.enrollments = unindexed(a.base.stores.enrollments.clone()))
            .await;
    w.advance(1).await;
    let callback = w.sent()[0].callback_data.clone();
    // Addressed to the 8-digit WhatsApp id: the phone is found with the ninth digit.
    let report = w
        .apply(vec![status_of(
            "wamid.1",
            MessageStatus::Read,
            Some(callback),
        )])
        .await;
    assert_eq!((report.statuses, report.held), (1, 0));
    let e = w.enrollment().await;
    assert_eq!(e.history[0].status, Some(MessageStatus::Read));
}

/// A messenger whose sends never return: a sender that dies between its claim and the outcome.
struct Hanging;

#[async_trait]
impl Messenger for Hanging {
    async fn send_template(
        &self,
        _: &Channel,
        _: &TemplateMessage,
    ) -> Result<SendReceipt, SendError> {
        std::future::pending().await
    }

    async fn start_chatbot(&self, _: &Bot, _: &ChatbotStart) -> Result<(), SendError> {
        std::future::pending().await
    }

    async fn templates(&self, _: &Channel) -> Result<Vec<TemplateInfo>, PortError> {
        Ok(Vec::new())
    }
}

fn reconcile_settings() -> ritmo_core::delivery::reconcile::ReconcileSettings {
    ritmo_core::delivery::reconcile::ReconcileSettings {
        grace: TimeDelta::minutes(10),
        claim_timeout: TimeDelta::minutes(15),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_lost_schedule_is_fired_again_after_the_grace_period_and_the_step_goes_out_once() {
    let w = world().await;
    let lost = w.scheduler.pending().remove(0);
    w.scheduler.cancel(&lost.name).await.unwrap();
    let reconciler = w.ritmo.reconciler(reconcile_settings());
    // Due at 13:00; at 13:09 it is not yet taken as lost.
    w.clock.set(lost.fire_at + TimeDelta::minutes(9)).unwrap();
    assert_eq!(reconciler.run().await.unwrap().refired, 0);
    w.clock.set(lost.fire_at + TimeDelta::minutes(11)).unwrap();
    let done = reconciler.run().await.unwrap();
    assert_eq!(done.refired, 1);
    assert_eq!(reconciler.run().await.unwrap().refired, 0, "once");
    // The lost job, delivered late after all, is stale: a new generation was planned.
    w.ritmo.sender().run(lost.input.clone()).await.unwrap();
    assert!(w.sent().is_empty());
    w.advance(0).await;
    assert_eq!(w.sent().len(), 1);
    w.ritmo.sender().run(lost.input).await.unwrap();
    w.advance(25).await;
    assert_eq!(w.sent().len(), 2, "the run went on to its second step");
    assert_eq!(w.status().await, (EnrollmentStatus::Completed, None));
}

#[tokio::test]
async fn a_sender_that_dies_after_its_claim_is_recorded_unknown_and_the_run_goes_on() {
    let w = world().await;
    let job = w.first_due();
    // A sender whose send never comes back, killed while it waits.
    let dying = ritmo_app::services::sender(
        w.ritmo.base(),
        Arc::new(Hanging),
        w.scheduler.clone(),
        Arc::new(ritmo_core::delivery::ports::NoMetrics),
    );
    let input = job.input.clone();
    let task = tokio::spawn(async move { dying.run(input).await });
    let claimed = loop {
        let e = w.stored().await;
        if matches!(
            e.state,
            ritmo_core::enrollments::model::StepState::Sending { .. }
        ) {
            break e;
        }
        tokio::task::yield_now().await;
    };
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    // The job delivered again finds the step claimed: nothing is sent.
    w.ritmo.sender().run(job.input.clone()).await.unwrap();
    assert!(w.sent().is_empty());

    let reconciler = w.ritmo.reconciler(reconcile_settings());
    w.clock.set(job.fire_at + TimeDelta::minutes(14)).unwrap();
    assert_eq!(
        reconciler.run().await.unwrap().unknown,
        0,
        "within the claim timeout"
    );
    w.clock.set(job.fire_at + TimeDelta::minutes(16)).unwrap();
    assert_eq!(reconciler.run().await.unwrap().unknown, 1);
    assert_eq!(reconciler.run().await.unwrap().unknown, 0, "once");
    let e = w.enrollment().await;
    assert_eq!(e.history.len(), 1);
    assert_eq!(
        e.history[0].outcome,
        ritmo_core::enrollments::model::Outcome::Unknown
    );
    assert_eq!(e.history[0].step_id, claimed.next_step_id.unwrap());
    assert_ne!(
        e.next_step_id, claimed.next_step_id,
        "the run moved to its second step"
    );
    assert!(
        w.sent().is_empty(),
        "an unknown outcome is never sent again"
    );
    w.advance(25).await;
    assert_eq!(w.sent().len(), 1, "the second step went out");
    assert_eq!(w.status().await, (EnrollmentStatus::Completed, None));
}

/// Records every metric the sender reports.
#[derive(Default)]
struct Metrics(Mutex<Vec<ritmo_core::delivery::ports::StepMetric>>);

impl ritmo_core::delivery::ports::SendMetrics for Metrics {
    fn record(&self, metric: &ritmo_core::delivery::ports::StepMetric) {
        self.0.lock().unwrap().push(metric.clone());
    }
}

#[tokio::test]
async fn the_sender_reports_each_outcome_per_number_and_how_late_a_send_went_out() {
    let metrics = Arc::new(Metrics::default());
    let reported = metrics.clone();
    let w = world_with(move |a| a.metrics = reported).await;
    w.messenger.fail.lock().unwrap().push(SendError::Throttled {
        code: Some(130429),
        detail: "rate".into(),
    });
    let due = w.scheduler.pending()[0].fire_at;
    w.advance(1).await;
    w.advance(1).await;
    let seen = metrics.0.lock().unwrap().clone();
    let outcomes: Vec<_> = seen.iter().map(|m| m.outcome).collect();
    assert_eq!(outcomes, ["throttled", "sent"]);
    assert_eq!(w.sent().len(), 1);
    assert!(seen.iter().all(|m| m.channel_id == seen[0].channel_id));
    assert_eq!(seen[0].late_by, None);
    let late = seen[1].late_by.expect("a send says how late it was");
    assert!(late >= TimeDelta::zero(), "{late} after {due}");
}

#[tokio::test]
async fn a_contact_at_metas_marketing_limit_is_tried_a_day_later_three_times_then_the_run_goes_on()
{
    let w = world().await;
    for _ in 0..4 {
        w.messenger
            .fail
            .lock()
            .unwrap()
            .push(SendError::ContactLimit {
                code: 131049,
                detail: "This message was not delivered to maintain healthy ecosystem engagement."
                    .into(),
            });
    }
    w.advance(1).await;
    assert_eq!(w.status().await.0, EnrollmentStatus::Active);
    let retry = w.scheduler.pending()[0].fire_at;
    assert!(
        retry - w.clock.now() >= TimeDelta::hours(24),
        "no sooner than a day later: {retry}"
    );
    // Three more tries a day apart, all limited: the step counts as failed, the run goes on.
    for _ in 0..3 {
        w.advance(24).await;
    }
    assert!(w.sent().is_empty());
    w.advance(24).await;
    assert_eq!(w.sent().len(), 1, "the second step went out");
    let e = w.enrollment().await;
    let outcomes: Vec<_> = e.history.iter().map(|h| h.outcome).collect();
    use ritmo_core::enrollments::model::Outcome;
    assert_eq!(outcomes, [Outcome::Failed, Outcome::Sent]);
    assert_eq!(e.history[0].error_code, Some(131049));
    assert_eq!(w.status().await, (EnrollmentStatus::Completed, None));
}

#[tokio::test]
async fn a_spam_rate_limit_is_the_numbers_it_waits_minutes_and_ends_no_one() {
    let w = world().await;
    w.messenger.fail.lock().unwrap().push(SendError::Throttled {
        code: Some(131048),
        detail: "Spam rate limit hit".into(),
    });
    w.advance(1).await;
    assert!(w.sent().is_empty());
    assert_eq!(w.status().await.0, EnrollmentStatus::Active);
    let next = w.scheduler.pending()[0].fire_at;
    assert!(next - w.clock.now() >= TimeDelta::minutes(10), "{next}");
    w.advance(1).await;
    assert_eq!(w.sent().len(), 1);
    let e = w.enrollment().await;
    assert_eq!(e.retries, 0, "the contact's retries are untouched");
}

#[tokio::test]
async fn a_resume_right_after_a_pause_strands_no_step_in_a_senders_snapshot() {
    let w = world().await;
    let sequences = w.ritmo.sequence_service();
    let sender = w.ritmo.sender();
    sequences
        .pause_sequence(&w.tenant, w.sequence_id)
        .await
        .unwrap();
    // Due while paused: held, and this sender has now seen the sequence paused.
    let first = w.first_due();
    sender.run(first.input.clone()).await.unwrap();
    let e = w.stored().await;
    assert!(matches!(
        e.state,
        ritmo_core::enrollments::model::StepState::Held { .. }
    ));
    sequences
        .resume_sequence(&w.tenant, w.sequence_id)
        .await
        .unwrap();
    w.jobs.run_until_idle().await;
    // The resumed step fires at once, within the snapshot's lifetime, on the same sender.
    let resumed = w
        .scheduler
        .pending()
        .into_iter()
        .find(|s| s.input.attempt > first.input.attempt)
        .expect("the resume planned the held step again");
    w.clock.set(resumed.fire_at.max(w.clock.now())).unwrap();
    sender.run(resumed.input).await.unwrap();
    assert_eq!(w.sent().len(), 1, "sent, not held again");
}

/// A status Meta posts for a message, priced or not, found by its message id alone.
fn priced_status(
    message_id: &str,
    to: &str,
    status: MessageStatus,
    category: Option<PricingCategory>,
) -> InboundEvent {
    InboundEvent::Status {
        phone_number_id: "1098765432".into(),
        status: StatusUpdate {
            message_id: message_id.into(),
            status,
            recipient_id: to.trim_start_matches('+').into(),
            callback_data: None,
            billable: category.is_some(),
            category,
            failure: None,
        },
    }
}

#[tokio::test]
async fn counters_equal_a_recount_of_the_enrollments_after_a_long_mixed_scenario() {
    let card = ritmo_core::enrollments::pricing::RateCard::from_json(
        r#"{"currency": "USD", "rates": {"MARKETING": {"55": 0.0625, "default": 0.05}, "UTILITY": {"1": 0.01}}}"#,
    )
    .unwrap();
    let w = world_with(|a| a.rate_card = Some(Arc::new(card))).await;
    let enrollments = w.ritmo.enrollment_service();
    let stats = w.ritmo.stats_service();
    let check = |when: &'static str| {
        let stats = stats.clone();
        let (tenant, sequence_id) = (w.tenant.clone(), w.sequence_id);
        async move {
            let counted = stats.sequence_stats(&tenant, sequence_id).await.unwrap();
            let recounted = stats.recounted_stats(&tenant, sequence_id).await.unwrap();
            assert_eq!(counted, recounted, "after {when}");
            counted
        }
    };
    let phones: Vec<String> = (0..6)
        .map(|i| format!("+55119876500{i:02}"))
        .chain((0..3).map(|i| format!("+1415555260{i}")))
        .collect();
    let contacts = phones
        .iter()
        .map(|p| serde_json::from_value(serde_json::json!({"phone": p})).unwrap())
        .collect();
    enrollments
        .enroll(&w.tenant, w.sequence_id, contacts)
        .await
        .unwrap();
    check("enrolling").await;
    // The first steps: one contact can never receive it, one send's outcome is unknown.
    w.messenger.fail.lock().unwrap().extend([
        SendError::Unknown {
            detail: "timed out".into(),
        },
        SendError::Contact {
            code: 131026,
            detail: "Message undeliverable".into(),
        },
    ]);
    let first_job = w.scheduler.pending()[0].input.clone();
    w.advance(2).await;
    check("the first steps").await;
    let sent = w.sent();
    assert_eq!(sent.len(), 8);
    let to = |n: usize| sent[n - 1].to.as_str().to_string();
    let message = |n: usize| format!("wamid.{n}");
    // Statuses, each posted twice, some out of order, priced ones billable.
    let marketing = Some(PricingCategory::Marketing);
    let utility = Some(PricingCategory::Utility);
    let mut statuses = Vec::new();
    for n in 1..=6 {
        statuses.push(priced_status(
            &message(n),
            &to(n),
            MessageStatus::Delivered,
            if n % 2 == 0 { utility } else { marketing },
        ));
    }
    for n in [1, 2, 3] {
        statuses.push(priced_status(
            &message(n),
            &to(n),
            MessageStatus::Read,
            None,
        ));
    }
    statuses.push(priced_status(
        &message(7),
        &to(7),
        MessageStatus::Failed,
        None,
    ));
    let inbound = w.ritmo.inbound();
    inbound.apply(statuses.clone()).await.unwrap();
    check("the statuses").await;
    inbound.apply(statuses).await.unwrap();
    check("the same statuses again").await;
    // A redelivered step job sends and counts nothing more.
    w.ritmo.sender().run(first_job.clone()).await.unwrap();
    w.ritmo.sender().run(first_job).await.unwrap();
    assert_eq!(w.sent().len(), 8);
    check("a redelivered step").await;
    // Two contacts reply (the second reply of one changes nothing), one is removed.
    let reply = |n: usize| InboundEvent::Message {
        phone_number_id: "1098765432".into(),
        from: to(n).trim_start_matches('+').into(),
    };
    inbound
        .apply(vec![reply(1), reply(2), reply(1)])
        .await
        .unwrap();
    enrollments
        .remove_contact(&w.tenant, w.sequence_id, &to(3))
        .await
        .unwrap();
    enrollments
        .remove_contact(&w.tenant, w.sequence_id, &to(3))
        .await
        .unwrap();
    check("replies and a removal").await;
    // The removed and a replied contact enroll again (new runs), an active one changes nothing.
    let again = [to(3), to(1), to(4)]
        .iter()
        .map(|p| serde_json::from_value(serde_json::json!({"phone": p})).unwrap())
        .collect();
    enrollments
        .enroll(&w.tenant, w.sequence_id, again)
        .await
        .unwrap();
    check("enrolling again").await;
    // The second steps, and the new runs' first steps, with their statuses.
    w.advance(25).await;
    let later: Vec<(String, String)> = w
        .sent()
        .iter()
        .enumerate()
        .skip(8)
        .map(|(i, m)| (format!("wamid.{}", i + 1), m.to.as_str().to_string()))
        .collect();
    assert!(later.len() >= 5, "{} later sends", later.len());
    let statuses: Vec<InboundEvent> = later
        .iter()
        .flat_map(|(id, to)| {
            [
                priced_status(id, to, MessageStatus::Read, marketing),
                priced_status(id, to, MessageStatus::Delivered, marketing),
            ]
        })
        .collect();
    inbound.apply(statuses.clone()).await.unwrap();
    inbound.apply(statuses).await.unwrap();
    w.advance(48).await;
    let last = check("everything").await;
    let total = |f: fn(&ritmo_core::enrollments::stats::StepStats) -> u64| {
        last.steps.iter().map(f).sum::<u64>()
    };
    // The scenario reached every kind of count.
    assert!(total(|s| s.sent) >= 13);
    assert!(total(|s| s.failed) >= 2);
    assert!(total(|s| s.unknown) >= 1);
    assert!(total(|s| s.read) >= 3);
    assert!(total(|s| s.replied) >= 2);
    assert!(last.exit_reasons.contains_key("replied"));
    assert!(last.exit_reasons.contains_key("undeliverable"));
    assert!(last.steps[0]
        .billable
        .contains_key(&TemplateCategory::Utility));
    assert!(last.steps.iter().any(|s| s.estimated_cost.unwrap() > 0.0));
}

/// A CSV of `rows` rows in `;` (as Brazilian spreadsheets export): every 100th row's phone is
/// not a number, every 100th (from the 50th) repeats the row before's phone. The numbers of
/// invalid rows and of distinct valid phones.
fn import_file(rows: usize) -> (String, usize, usize) {
    let mut file = String::from("\u{feff}phone;name;cupom\r\n");
    let (mut invalid, mut distinct) = (0, 0);
    for i in 0..rows {
        if i % 100 == 99 {
            invalid += 1;
            file.push_str(&format!("12{i};Sem Número;X\r\n"));
        } else if i % 100 == 50 {
            file.push_str(&format!("+5511970{:06};Repetido;X\r\n", i - 1));
        } else {
            distinct += 1;
            file.push_str(&format!("+5511970{i:06};Cliente {i};C{i}\r\n"));
        }
    }
    (file, invalid, distinct)
}

/// Uploads `file` into the world's sequence, 64 KiB at a time as a request body arrives.
async fn start_import(w: &World, file: &str) -> ritmo_core::jobs::Job {
    start_import_into(w, &w.tenant, w.sequence_id, file).await
}

/// [`start_import`] into `tenant`'s sequence `sequence_id`.
async fn start_import_into(
    w: &World,
    tenant: &TenantId,
    sequence_id: Ulid,
    file: &str,
) -> ritmo_core::jobs::Job {
    let mut upload = w
        .ritmo
        .enrollment_service()
        .begin_import(tenant, sequence_id)
        .await
        .unwrap();
    for piece in file.as_bytes().chunks(64 * 1024) {
        upload.push(piece).await.unwrap();
    }
    upload.finish().await.unwrap()
}

#[tokio::test]
async fn an_import_enrolls_each_phone_once_and_lists_each_invalid_row() {
    let w = world().await;
    // The acceptance size: 100,000 rows, 1% not a phone, 1% a phone given before.
    let (file, invalid, distinct) = import_file(100_000);
    let job = start_import(&w, &file).await;
    assert_eq!(
        (job.kind, job.status),
        (JobKind::ImportContacts, JobStatus::Queued)
    );
    let runner = w.ritmo.job_runner();
    assert_eq!(
        runner.run_chunk(&w.tenant, job.id).await.unwrap(),
        ChunkOutcome::More
    );
    let running = ritmo_core::jobs::JobView::from(w.job(job.id).await);
    let progress = running.progress.unwrap();
    assert!(
        running.status == JobStatus::Running && progress > 0.04 && progress < 0.06,
        "progress is visible while it runs: {running:?}"
    );
    w.jobs.run_until_idle().await;
    let done = w.job(job.id).await;
    assert_eq!(done.status, JobStatus::Succeeded, "{:?}", done.error);
    assert_eq!(
        (done.total, done.done, done.failed),
        (100_000, 100_000 - invalid as u64, invalid as u64)
    );
    assert_eq!(
        active_count(&w).await,
        distinct + 1,
        "each phone once, Ana too"
    );
    let errors = done.errors_csv();
    let lines: Vec<&str> = errors.lines().collect();
    assert_eq!(lines.len(), invalid + 1);
    assert_eq!(lines[0], "row,phone,reason");
    assert!(
        lines[1].starts_with("100,1299,phone "),
        "the row, the phone as given and why: {}",
        lines[1]
    );
    let bia = w
        .ritmo
        .enrollment_service()
        .enrollment(&w.tenant, w.sequence_id, "+5511970000007")
        .await
        .unwrap();
    assert_eq!(bia.contact.name.as_deref(), Some("Cliente 7"));
    assert_eq!(bia.contact.attributes["cupom"], "C7");
    assert!(bia.next_send_at.is_some(), "the first step is planned");
}

/// A second tenant, `beta`, with its own number and an active sequence whose one template step
/// is due at once.
async fn beta_sequence(w: &World) -> (TenantId, Ulid) {
    let beta = TenantId::parse("beta").unwrap();
    let channel = w
        .ritmo
        .channel_service()
        .create_channel(
            &beta,
            serde_json::from_value(
                serde_json::json!({"name": "Beta", "phone_number_id": "1098765499",
                "waba_id": "2098765499", "access_token": "EAAG-beta"}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let sequences = w.ritmo.sequence_service();
    let sequence = sequences
        .create_sequence(
            &beta,
            serde_json::from_value(
                serde_json::json!({"name": "Boas-vindas", "time_zone": "America/Sao_Paulo"}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    sequences
        .add_step(
            &beta,
            sequence.id,
            serde_json::from_value(serde_json::json!({"channel_id": channel.id,
                "action": {"type": "template", "name": "promo", "language": "pt_BR",
                           "parameters": ["{{contact.name|cliente}}"]},
                "delay": {"amount": 0, "unit": "minutes"}}))
            .unwrap(),
        )
        .await
        .unwrap();
    sequences
        .activate_sequence(&beta, sequence.id)
        .await
        .unwrap();
    (beta, sequence.id)
}

#[tokio::test]
async fn a_small_import_of_another_tenant_waits_for_one_chunk_of_a_large_one_not_for_all_of_it() {
    let w = world().await;
    let (beta, beta_sequence) = beta_sequence(&w).await;
    let (large, _, _) = import_file(40_000);
    let (small, small_invalid, small_distinct) = import_file(100);
    // acme's 40,000 rows are queued first, beta's 100 right after.
    let acme_job = start_import(&w, &large).await;
    let beta_job = start_import_into(&w, &beta, beta_sequence, &small).await;
    let (mut chunks, mut acme_when_beta_finished) = (0, None);
    while w.jobs.run_next().await {
        chunks += 1;
        let finished = w.ritmo.job_service().job(&beta, beta_job.id).await.unwrap();
        if finished.status.is_finished() && acme_when_beta_finished.is_none() {
            acme_when_beta_finished = Some((chunks, w.job(acme_job.id).await));
        }
    }
    let (at_chunk, acme) = acme_when_beta_finished.expect("beta's import finished");
    assert_eq!(
        (at_chunk, acme.status, acme.done + acme.failed),
        (2, JobStatus::Running, 5_000),
        "beta's import ran right after acme's first chunk of 5,000 rows"
    );
    assert!(chunks >= 9, "acme's import took {chunks} chunks in all");
    let beta_done = w.ritmo.job_service().job(&beta, beta_job.id).await.unwrap();
    assert_eq!(
        (beta_done.status, beta_done.failed),
        (JobStatus::Succeeded, small_invalid as u64)
    );
    assert_eq!(w.job(acme_job.id).await.status, JobStatus::Succeeded);
    // beta's first steps are planned on beta's own number, from now, not behind acme's 40,000.
    let now = w.clock.now();
    let beta_due: Vec<_> = w
        .scheduler
        .pending()
        .into_iter()
        .filter(|s| s.input.tenant == beta)
        .map(|s| s.fire_at)
        .collect();
    assert_eq!(beta_due.len(), small_distinct, "one first step per phone");
    let last = beta_due.iter().max().unwrap();
    assert!(
        *last - now <= TimeDelta::seconds(2),
        "beta's last first step is due {} after its import, at its number's rate",
        *last - now
    );
}

#[tokio::test]
async fn an_import_whose_chunk_is_lost_after_enrolling_ends_with_the_same_counts() {
    let w = world().await;
    let (file, invalid, distinct) = import_file(12_000);
    let job = start_import(&w, &file).await;
    let runner = w.ritmo.job_runner();
    runner.run_chunk(&w.tenant, job.id).await.unwrap();
    let before = w.job(job.id).await;
    runner.run_chunk(&w.tenant, job.id).await.unwrap();
    // The process died after the second chunk enrolled its rows but before it stored its
    // cursor: the job is back where the first chunk left it.
    let current = w.job(job.id).await;
    let mut rewound = before.clone();
    rewound.version = current.version + 1;
    w.ritmo
        .base()
        .stores
        .jobs
        .put_job(&rewound, Expect::Version(current.version))
        .await
        .unwrap();
    w.jobs.run_until_idle().await;
    let done = w.job(job.id).await;
    assert_eq!(
        (done.status, done.total, done.done, done.failed),
        (
            JobStatus::Succeeded,
            12_000,
            12_000 - invalid as u64,
            invalid as u64
        )
    );
    assert_eq!(
        active_count(&w).await,
        distinct + 1,
        "nobody enrolled twice"
    );
}

#[tokio::test]
async fn an_import_into_a_sequence_archived_meanwhile_fails_and_says_why() {
    let w = world().await;
    let (file, _, _) = import_file(3_000);
    let job = start_import(&w, &file).await;
    archive(&w).await;
    w.jobs.run_until_idle().await;
    let done = w.job(job.id).await;
    assert_eq!(done.status, JobStatus::Failed);
    assert!(
        done.error.as_deref().unwrap().contains("archived"),
        "{:?}",
        done.error
    );
}

#[tokio::test]
async fn a_cancelled_import_stops_and_its_file_is_deleted() {
    let w = world().await;
    let (file, _, _) = import_file(12_000);
    let job = start_import(&w, &file).await;
    let runner = w.ritmo.job_runner();
    assert_eq!(
        runner.run_chunk(&w.tenant, job.id).await.unwrap(),
        ChunkOutcome::More
    );
    let part = |i| {
        w.ritmo
            .base()
            .stores
            .import_files
            .get_part(&w.tenant, job.id, i)
    };
    assert!(
        part(0).await.unwrap().is_some(),
        "the file is kept while it runs"
    );
    let cancelled = w.cancel_job(job.id).await;
    assert_eq!(cancelled.status, JobStatus::Cancelled);
    let enrolled = active_count(&w).await;
    // The chunk queued before the cancel comes: it enrolls nothing more and deletes the file.
    assert_eq!(
        runner.run_chunk(&w.tenant, job.id).await.unwrap(),
        ChunkOutcome::Finished
    );
    w.jobs.run_until_idle().await;
    assert_eq!(active_count(&w).await, enrolled, "no row after the cancel");
    let parts = job.file.as_ref().unwrap().parts();
    for i in 0..parts {
        assert!(
            part(i).await.unwrap().is_none(),
            "part {i} of {parts} is left"
        );
    }
}

/// [`world`] whose imports can be uploaded through links, to a directory of its own.
async fn upload_world() -> (World, Arc<ritmo_memory::DirUploads>) {
    let dir = std::env::temp_dir().join(format!("ritmo-test-uploads-{}", Ulid::new()));
    let uploads = Arc::new(ritmo_memory::DirUploads::new(&dir, b"upload key").unwrap());
    uploads.set_base("http://127.0.0.1:3000");
    let given = uploads.clone();
    let w = world_with(move |a| a.uploads = Some(given)).await;
    (w, uploads)
}

/// Asks for an upload link for an import into the world's sequence.
async fn start_upload(w: &World) -> ritmo_core::jobs::UploadStarted {
    w.ritmo
        .enrollment_service()
        .begin_upload(&w.tenant, w.sequence_id, JobKind::ImportContacts)
        .await
        .unwrap()
}

/// Stores `file` as the upload of `job_id` (as the upload route or S3 does) and tells the
/// runner it completed.
async fn complete_upload(
    w: &World,
    uploads: &ritmo_memory::DirUploads,
    job_id: Ulid,
    file: &[u8],
) -> Result<(), ritmo_core::DomainError> {
    let path = uploads.path(&w.tenant, job_id);
    std::fs::write(&path, file).unwrap();
    let tag = ritmo_memory::DirUploads::tag_of(&std::fs::metadata(&path).unwrap());
    w.ritmo
        .job_runner()
        .upload_complete(&w.tenant, job_id, file.len() as u64, &tag)
        .await
}

#[tokio::test]
async fn an_uploaded_import_waits_for_its_file_then_runs_like_one_sent_as_the_body() {
    let (w, uploads) = upload_world().await;
    let started = start_upload(&w).await;
    assert!(
        started.upload_url.starts_with(&format!(
            "http://127.0.0.1:3000/v1/uploads/{}?tenant=acme&expires=",
            started.job_id
        )),
        "{}",
        started.upload_url
    );
    assert_eq!(
        started.upload_expires_at,
        monday_noon() + TimeDelta::minutes(15)
    );
    let waiting = w.job(started.job_id).await;
    let view = ritmo_core::jobs::JobView::from(waiting.clone());
    assert_eq!(
        (view.status, view.awaiting_upload, view.progress),
        (JobStatus::Queued, true, None)
    );
    // The expiry check comes before the upload: the link still works, nothing changes.
    w.clock.set(w.clock.now() + TimeDelta::minutes(10)).unwrap();
    assert_eq!(w.check_upload(started.job_id).await, ChunkOutcome::Dropped);
    let still = w.job(started.job_id).await;
    assert_eq!(still.version, waiting.version, "nothing written");

    let (file, invalid, distinct) = import_file(12_000);
    complete_upload(&w, &uploads, started.job_id, file.as_bytes())
        .await
        .unwrap();
    let queued = w.job(started.job_id).await;
    let stored = queued.file.clone().unwrap();
    assert_eq!(
        (stored.columns.clone(), stored.delimiter, stored.bytes),
        (
            vec!["phone".to_string(), "name".into(), "cupom".into()],
            b';',
            file.len() as u64
        )
    );
    assert!(!ritmo_core::jobs::JobView::from(queued.clone()).awaiting_upload);
    // The expiry check queued with the link comes later: it runs no chunk of its own.
    assert_eq!(w.check_upload(started.job_id).await, ChunkOutcome::Dropped);
    let unchanged = w.job(started.job_id).await;
    assert_eq!(unchanged.version, queued.version, "nothing run or written");
    // Told twice (S3 may deliver its event again): nothing changes.
    let again = ritmo_memory::DirUploads::tag_of(
        &std::fs::metadata(uploads.path(&w.tenant, started.job_id)).unwrap(),
    );
    w.ritmo
        .job_runner()
        .upload_complete(&w.tenant, started.job_id, file.len() as u64, &again)
        .await
        .unwrap();
    w.jobs.run_until_idle().await;
    let done = w.job(started.job_id).await;
    assert_eq!(done.status, JobStatus::Succeeded, "{:?}", done.error);
    assert_eq!(
        (done.total, done.done, done.failed),
        (12_000, 12_000 - invalid as u64, invalid as u64)
    );
    assert_eq!(active_count(&w).await, distinct + 1, "each phone once");
    assert_eq!(done.errors_csv().lines().count(), invalid + 1);
    assert!(
        !uploads.path(&w.tenant, started.job_id).exists(),
        "the file is deleted once the job is done"
    );
}

#[tokio::test]
async fn an_uploaded_file_without_a_phone_column_fails_its_job_and_is_deleted() {
    let (w, uploads) = upload_world().await;
    for (file, says) in [
        (&b"nome;cupom\nAna;X1\n"[..], "'phone' column"),
        (&b"phone,name\n"[..], "no rows"),
    ] {
        let started = start_upload(&w).await;
        complete_upload(&w, &uploads, started.job_id, file)
            .await
            .unwrap();
        let job = w.job(started.job_id).await;
        assert_eq!(job.status, JobStatus::Failed);
        let error = job.error.clone().unwrap();
        assert!(error.contains(says), "{error}");
        assert!(!error.contains("invalid request"), "said plainly: {error}");
        assert!(!uploads.path(&w.tenant, started.job_id).exists());
    }
}

#[tokio::test]
async fn an_upload_that_never_comes_fails_its_job_after_the_link_and_its_grace_expire() {
    let (w, uploads) = upload_world().await;
    let started = start_upload(&w).await;
    // Expired, but an upload begun before may still be completing.
    w.clock.set(w.clock.now() + TimeDelta::minutes(20)).unwrap();
    let runner = w.ritmo.job_runner();
    assert_eq!(
        runner.run_chunk(&w.tenant, started.job_id).await.unwrap(),
        ChunkOutcome::Dropped
    );
    w.clock.set(w.clock.now() + TimeDelta::minutes(11)).unwrap();
    assert_eq!(
        runner.run_chunk(&w.tenant, started.job_id).await.unwrap(),
        ChunkOutcome::Finished
    );
    let job = w.job(started.job_id).await;
    assert_eq!(job.status, JobStatus::Failed);
    assert!(job.error.unwrap().contains("no file was uploaded"));
    // A file that arrives after all is deleted, and the job stays as it is.
    complete_upload(&w, &uploads, started.job_id, b"phone\n+5511987654329\n")
        .await
        .unwrap();
    assert!(!uploads.path(&w.tenant, started.job_id).exists());
    let after = w.job(started.job_id).await;
    assert_eq!(after.status, JobStatus::Failed);
    assert_eq!(active_count(&w).await, 1, "nobody enrolled");
}

/// S3 cannot refuse a second `PUT` to a pre-signed link: a file replaced under a running
/// import is never read (reads are conditioned on the tag its completion named), and the job
/// fails saying so, once, instead of its chunks being retried until they are dead-lettered.
#[tokio::test]
async fn an_upload_replaced_while_its_import_runs_fails_the_job_with_the_reason() {
    let (w, uploads) = upload_world().await;
    let started = start_upload(&w).await;
    let (file, _, _) = import_file(20_000);
    complete_upload(&w, &uploads, started.job_id, file.as_bytes())
        .await
        .unwrap();
    let runner = w.ritmo.job_runner();
    assert_eq!(
        runner.run_chunk(&w.tenant, started.job_id).await.unwrap(),
        ChunkOutcome::More
    );
    let running = w.job(started.job_id).await;
    assert!(running.total > 0 && running.total < 20_000, "{running:?}");
    let enrolled = active_count(&w).await;

    // Another PUT to the same link: same bytes, a new object (a new tag).
    std::thread::sleep(std::time::Duration::from_millis(5));
    let path = uploads.path(&w.tenant, started.job_id);
    std::fs::write(&path, file.as_bytes()).unwrap();
    let second = ritmo_memory::DirUploads::tag_of(&std::fs::metadata(&path).unwrap());
    assert_ne!(
        second,
        running.file.as_ref().unwrap().upload_tag.clone().unwrap()
    );
    assert_eq!(
        runner.run_chunk(&w.tenant, started.job_id).await.unwrap(),
        ChunkOutcome::Finished,
        "the chunk ends the job rather than failing to be retried"
    );
    let failed = w.job(started.job_id).await;
    assert_eq!(failed.status, JobStatus::Failed);
    assert!(
        failed
            .error
            .as_deref()
            .unwrap()
            .contains("replaced by another upload"),
        "{:?}",
        failed.error
    );
    assert_eq!(failed.total, running.total, "nothing of the new file read");
    assert_eq!(active_count(&w).await, enrolled);
    assert!(!path.exists(), "the file is deleted with the failed job");
    // The second upload's own completion changes nothing.
    runner
        .upload_complete(&w.tenant, started.job_id, file.len() as u64, &second)
        .await
        .unwrap();
    assert_eq!(w.job(started.job_id).await.version, failed.version);
}

/// Two `PUT`s before the first completion is handled: the first completion names a file no
/// longer there and is ignored (not retried); the second's completion starts the job.
#[tokio::test]
async fn a_completion_for_a_file_already_replaced_is_ignored_and_the_later_one_runs() {
    let (w, uploads) = upload_world().await;
    let started = start_upload(&w).await;
    let path = uploads.path(&w.tenant, started.job_id);
    std::fs::write(&path, b"phone\n+5511987654329\n").unwrap();
    let first = ritmo_memory::DirUploads::tag_of(&std::fs::metadata(&path).unwrap());
    std::thread::sleep(std::time::Duration::from_millis(5));
    let file = b"phone;name\n+5511987654329;Ana\n+5511987654330;Bia\n";
    std::fs::write(&path, file).unwrap();
    let runner = w.ritmo.job_runner();
    runner
        .upload_complete(&w.tenant, started.job_id, 22, &first)
        .await
        .unwrap();
    let waiting = w.job(started.job_id).await;
    assert!(
        waiting.upload_expires_at.is_some(),
        "still waiting: {waiting:?}"
    );
    complete_upload(&w, &uploads, started.job_id, file)
        .await
        .unwrap();
    w.jobs.run_until_idle().await;
    let done = w.job(started.job_id).await;
    assert_eq!(done.status, JobStatus::Succeeded, "{:?}", done.error);
    assert_eq!((done.total, done.done), (2, 2));
}

#[tokio::test]
async fn an_upload_cancelled_while_awaited_enrolls_no_one() {
    let (w, uploads) = upload_world().await;
    let started = start_upload(&w).await;
    let cancelled = w.cancel_job(started.job_id).await;
    assert_eq!(
        (cancelled.status, cancelled.awaiting_upload),
        (JobStatus::Cancelled, false)
    );
    complete_upload(&w, &uploads, started.job_id, b"phone\n+5511987654329\n")
        .await
        .unwrap();
    w.jobs.run_until_idle().await;
    assert!(!uploads.path(&w.tenant, started.job_id).exists());
    assert_eq!(active_count(&w).await, 1, "nobody enrolled");
}

#[tokio::test]
async fn upload_links_are_refused_where_none_are_given_and_for_a_sequence_that_takes_no_contacts() {
    let w = world().await;
    let error = w
        .ritmo
        .enrollment_service()
        .begin_upload(&w.tenant, w.sequence_id, JobKind::ImportContacts)
        .await
        .unwrap_err();
    assert!(
        matches!(error, ritmo_core::DomainError::Unavailable(_)),
        "{error}"
    );
    let (w, _uploads) = upload_world().await;
    archive(&w).await;
    let error = w
        .ritmo
        .enrollment_service()
        .begin_upload(&w.tenant, w.sequence_id, JobKind::ImportContacts)
        .await
        .unwrap_err();
    assert!(
        matches!(error, ritmo_core::DomainError::Conflict(_)),
        "{error}"
    );
}

#[tokio::test]
async fn an_import_of_exactly_the_row_bound_succeeds_and_one_row_more_fails_saying_so() {
    let w = world().await;
    let runner = w.ritmo.job_runner().with_max_rows(100);
    for (rows, status) in [(100, JobStatus::Succeeded), (101, JobStatus::Failed)] {
        let mut file = String::from("phone;name\r\n");
        for i in 0..rows {
            file.push_str(&format!("+5511971{i:06};C{i}\r\n"));
        }
        file.push_str("\r\n");
        let job = start_import(&w, &file).await;
        assert_eq!(
            runner.run_chunk(&w.tenant, job.id).await.unwrap(),
            ChunkOutcome::Finished
        );
        let done = w.job(job.id).await;
        assert_eq!(
            (done.status, done.total, done.done),
            (status, 100, 100),
            "{rows} rows: {:?}",
            done.error
        );
        if rows > 100 {
            assert!(
                done.error.unwrap().contains("more than 100 rows"),
                "it says why"
            );
        }
    }
}

/// Refuses the first `refusals` enrollment writes recording a sent message (the sender's
/// outcome write after Meta accepted it) for capacity, as DynamoDB's throttling reaches the
/// domain once the adapter's retries are spent; every other write goes through.
struct ThrottledOutcomes {
    refusals: AtomicUsize,
    refused: AtomicUsize,
}

impl ThrottledOutcomes {
    fn new(refusals: usize) -> Arc<Self> {
        Arc::new(Self {
            refusals: AtomicUsize::new(refusals),
            refused: AtomicUsize::new(0),
        })
    }

    fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }

    /// What an [`OnWrite`] store does with a write indexing `index`.
    fn write(&self, index: &IndexWrites) -> Write {
        let records_a_send = !index.messages.is_empty();
        if records_a_send
            && self
                .refusals
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return Write::Refused(WriteError::Port(PortError::retryable(
                "DynamoDB cancelled the enrollment transaction: ThrottlingError",
            )));
        }
        Write::AsGiven
    }
}

/// [`world`] whose enrollment store refuses the first `refusals` outcome writes of a sent
/// message for capacity.
async fn world_throttling_outcomes(refusals: usize) -> (World, Arc<ThrottledOutcomes>) {
    let throttled = ThrottledOutcomes::new(refusals);
    let hook = throttled.clone();
    let w = world_with(move |adapters| {
        adapters.base.stores.enrollments =
            OnWrite::new(adapters.base.stores.enrollments.clone(), move |_, index| {
                hook.write(index)
            });
    })
    .await;
    (w, throttled)
}

/// The world's sender, but trying an outcome write `tries` times at once.
fn outcome_tries_sender(w: &World, tries: u32) -> ritmo_core::delivery::sender::Sender {
    ritmo_app::services::sender(
        w.ritmo.base(),
        w.messenger.clone(),
        w.scheduler.clone(),
        Arc::new(ritmo_core::delivery::ports::NoMetrics),
    )
    .with_outcome_backoff(Backoff::immediate(tries))
}

/// Ana's run as stored, and that no step of it was recorded `unknown`.
async fn ana_recorded(w: &World) -> Enrollment {
    let e = w.enrollment().await;
    assert!(
        e.history
            .iter()
            .all(|h| h.outcome != ritmo_core::enrollments::model::Outcome::Unknown),
        "nothing recorded unknown: {:?}",
        e.history
    );
    e
}

#[tokio::test]
async fn a_throttled_outcome_write_after_an_accepted_send_is_retried_and_recorded_sent() {
    let (w, throttled) = world_throttling_outcomes(3).await;
    let job = w.first_due();
    let sender = outcome_tries_sender(&w, 4);
    assert_eq!(
        sender.fire(&job.input).await.unwrap(),
        ritmo_core::delivery::sender::Fired::Sent
    );
    assert_eq!(throttled.refused(), 3, "three writes were refused first");
    assert_eq!(w.sent().len(), 1);
    let e = ana_recorded(&w).await;
    assert_eq!(e.history.len(), 1);
    assert_eq!(
        e.history[0].outcome,
        ritmo_core::enrollments::model::Outcome::Sent
    );
    assert_eq!(e.history[0].message_id.as_deref(), Some("wamid.1"));

    // Delivered again, and past the claim timeout: nothing sent again, nothing unknown.
    sender.run(job.input.clone()).await.unwrap();
    let reconciler = w.ritmo.reconciler(reconcile_settings());
    w.clock.set(job.fire_at + TimeDelta::minutes(16)).unwrap();
    assert_eq!(reconciler.run().await.unwrap().unknown, 0);
    assert_eq!(w.sent().len(), 1, "sent exactly once");
    ana_recorded(&w).await;
    w.advance(25).await;
    assert_eq!(w.sent().len(), 2, "the run went on to its second step");
    assert_eq!(w.status().await, (EnrollmentStatus::Completed, None));
}

#[tokio::test]
async fn an_outcome_write_throttled_past_its_retries_is_recorded_sent_by_a_later_job() {
    let (w, throttled) = world_throttling_outcomes(2).await;
    let job = w.first_due();
    let sender = outcome_tries_sender(&w, 2);
    let fired = sender.fire(&job.input).await.unwrap();
    assert!(
        matches!(
            fired,
            ritmo_core::delivery::sender::Fired::RecordingLater(_)
        ),
        "{fired:?}"
    );
    assert_eq!(throttled.refused(), 2, "both tries were refused");
    assert_eq!(w.sent().len(), 1);
    // The step stays claimed: the job delivered again sends nothing.
    sender.run(job.input.clone()).await.unwrap();
    assert_eq!(w.sent().len(), 1);
    let recording = w
        .scheduler
        .pending()
        .into_iter()
        .find(|s| s.input.accepted.is_some())
        .expect("a job records the accepted send");
    assert_eq!(
        recording
            .input
            .accepted
            .as_ref()
            .unwrap()
            .message_id
            .as_deref(),
        Some("wamid.1")
    );

    // The recording job fires (on the world's own sender): the send is recorded, not resent.
    let to = recording.fire_at + TimeDelta::seconds(1);
    w.scheduler.advance(&w.clock, to).await.unwrap();
    assert_eq!(w.sent().len(), 1, "sent exactly once");
    let e = ana_recorded(&w).await;
    assert_eq!(e.history.len(), 1);
    assert_eq!(
        e.history[0].outcome,
        ritmo_core::enrollments::model::Outcome::Sent
    );
    assert_eq!(e.history[0].message_id.as_deref(), Some("wamid.1"));
    assert_eq!(
        e.history[0].at, job.fire_at,
        "recorded at the instant Meta accepted it"
    );

    let reconciler = w.ritmo.reconciler(reconcile_settings());
    w.clock.set(job.fire_at + TimeDelta::minutes(16)).unwrap();
    assert_eq!(reconciler.run().await.unwrap().unknown, 0);
    ana_recorded(&w).await;
    w.advance(25).await;
    assert_eq!(w.sent().len(), 2, "the run went on to its second step");
    assert_eq!(w.status().await, (EnrollmentStatus::Completed, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn statuses_applied_by_several_instances_at_once_each_count_once_and_leave_the_run_alone() {
    let w = world().await;
    w.advance(1).await;
    let callback = w.sent()[0].callback_data.clone();
    let service = w.ritmo.enrollment_service();
    let before = w.enrollment().await;
    let status = |s: MessageStatus| billed_status(&callback, s);
    // Four webhook instances, each given Meta's three statuses (and repeats) in its own order.
    let orders = [
        [
            MessageStatus::Sent,
            MessageStatus::Delivered,
            MessageStatus::Read,
        ],
        [
            MessageStatus::Read,
            MessageStatus::Delivered,
            MessageStatus::Sent,
        ],
        [
            MessageStatus::Delivered,
            MessageStatus::Read,
            MessageStatus::Sent,
        ],
        [
            MessageStatus::Delivered,
            MessageStatus::Sent,
            MessageStatus::Read,
        ],
    ];
    let mut instances = Vec::new();
    for order in orders {
        let inbound = w.ritmo.inbound();
        let events: Vec<_> = order.into_iter().map(&status).collect();
        instances.push(tokio::spawn(async move {
            for event in events {
                inbound.apply(vec![event]).await.unwrap();
            }
        }));
    }
    for instance in instances {
        instance.await.unwrap();
    }
    let after = service
        .enrollment(&w.tenant, w.sequence_id, ANA)
        .await
        .unwrap();
    let entry = &after.history[0];
    assert_eq!(entry.status, Some(MessageStatus::Read));
    assert!(entry.delivered && entry.read && entry.billable);
    // A status changes the send's history entry alone, never the enrollment it belongs to.
    assert_eq!(after.version, before.version);
    let stats = w.stats().await;
    assert_eq!(
        (
            stats.steps[0].sent,
            stats.steps[0].delivered,
            stats.steps[0].read,
        ),
        (1, 1, 1)
    );
    assert_eq!(stats.steps[0].billable.values().sum::<u64>(), 1);
}
