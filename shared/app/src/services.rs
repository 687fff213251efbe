//! One builder per service, each from the [`Base`] and the adapters and sub-services that
//! service uses, and nothing else.

use std::sync::Arc;

use ritmo_core::channels::service::ChannelService;
use ritmo_core::common::net::HostResolver;
use ritmo_core::delivery::inbound::InboundWebhooks;
use ritmo_core::delivery::ports::{Messenger, Scheduler, SendMetrics};
use ritmo_core::delivery::reconcile::{ReconcileSettings, Reconciler};
use ritmo_core::delivery::sender::Sender;
use ritmo_core::delivery::statuses::Statuses;
use ritmo_core::enrollments::enroll::EnrollmentService;
use ritmo_core::enrollments::pricing::RateCard;
use ritmo_core::enrollments::stats::StatsService;
use ritmo_core::enrollments::transitions::EnrollmentTransitions;
use ritmo_core::jobs::{FileUploads, JobQueue, JobRunner, JobService};
use ritmo_core::links::admin::LinkAdmin;
use ritmo_core::links::redirect::Redirect;
use ritmo_core::links::StickyKey;
use ritmo_core::sequences::service::SequenceService;
use ritmo_core::sequences::transitions::SequenceTransitions;

use crate::Base;

/// An enrollment's moves (plan, schedule, end), shared by everything that moves one.
pub fn transitions(base: &Base, scheduler: Arc<dyn Scheduler>) -> EnrollmentTransitions {
    let s = &base.stores;
    EnrollmentTransitions::new(
        base.clock.clone(),
        s.enrollments.clone(),
        scheduler,
        s.channels.clone(),
        s.slots.clone(),
    )
}

/// A sequence's status changes.
pub fn sequence_transitions(base: &Base) -> SequenceTransitions {
    SequenceTransitions::new(base.clock.clone(), base.stores.sequences.clone())
}

/// Meta's statuses applied to the messages they name, moving enrollments and sequences
/// through the given transitions.
pub fn statuses(
    base: &Base,
    scheduler: Arc<dyn Scheduler>,
    transitions: EnrollmentTransitions,
    state: SequenceTransitions,
) -> Statuses {
    Statuses::new(
        base.stores.enrollments.clone(),
        scheduler,
        transitions,
        state,
    )
}

/// Jobs started, read and cancelled; their chunks queued on `queue`.
pub fn job_service(base: &Base, queue: Arc<dyn JobQueue>) -> JobService {
    JobService::new(
        base.clock.clone(),
        base.ids.clone(),
        base.stores.jobs.clone(),
        queue,
    )
}

pub fn channel_service(
    base: &Base,
    messenger: Arc<dyn Messenger>,
    bot_addresses: Option<Arc<dyn HostResolver>>,
) -> ChannelService {
    let s = &base.stores;
    ChannelService::new(
        base.clock.clone(),
        base.ids.clone(),
        s.channels.clone(),
        s.bots.clone(),
        messenger,
        bot_addresses,
    )
}

pub fn sequence_service(
    base: &Base,
    messenger: Arc<dyn Messenger>,
    jobs: JobService,
) -> SequenceService {
    let s = &base.stores;
    SequenceService::new(
        base.clock.clone(),
        base.ids.clone(),
        s.sequences.clone(),
        s.channels.clone(),
        s.bots.clone(),
        messenger,
        jobs,
    )
}

/// Enrollment by request and by file; upload links through `uploads` when given.
pub fn enrollment_service(
    base: &Base,
    scheduler: Arc<dyn Scheduler>,
    jobs: JobService,
    uploads: Option<Arc<dyn FileUploads>>,
) -> EnrollmentService {
    let s = &base.stores;
    let service = EnrollmentService::new(
        base.clock.clone(),
        base.ids.clone(),
        s.sequences.clone(),
        s.enrollments.clone(),
        scheduler.clone(),
        transitions(base, scheduler),
        jobs,
    )
    .with_imports(s.import_files.clone());
    match uploads {
        Some(uploads) => service.with_uploads(uploads),
        None => service,
    }
}

pub fn stats_service(base: &Base, rate_card: Option<Arc<RateCard>>) -> StatsService {
    StatsService::new(
        base.stores.sequences.clone(),
        base.stores.enrollments.clone(),
        rate_card,
    )
}

pub fn sender(
    base: &Base,
    messenger: Arc<dyn Messenger>,
    scheduler: Arc<dyn Scheduler>,
    metrics: Arc<dyn SendMetrics>,
) -> Sender {
    let s = &base.stores;
    let (moves, state) = (
        transitions(base, scheduler.clone()),
        sequence_transitions(base),
    );
    Sender::new(
        base.clock.clone(),
        s.sequences.clone(),
        s.enrollments.clone(),
        s.channels.clone(),
        s.bots.clone(),
        messenger,
        scheduler.clone(),
        s.slots.clone(),
        moves.clone(),
        state.clone(),
        statuses(base, scheduler, moves, state),
        metrics,
    )
}

pub fn reconciler(base: &Base, sender: Sender, settings: ReconcileSettings) -> Reconciler {
    Reconciler::new(
        base.clock.clone(),
        base.stores.enrollments.clone(),
        sender,
        settings,
    )
}

pub fn inbound(base: &Base, scheduler: Arc<dyn Scheduler>) -> InboundWebhooks {
    let s = &base.stores;
    let (moves, state) = (
        transitions(base, scheduler.clone()),
        sequence_transitions(base),
    );
    InboundWebhooks::new(
        base.clock.clone(),
        s.channels.clone(),
        s.sequences.clone(),
        s.enrollments.clone(),
        scheduler.clone(),
        moves.clone(),
        state.clone(),
        statuses(base, scheduler, moves, state),
    )
}

/// The job runner; imports enroll their rows as the enrollment request does.
pub fn job_runner(
    base: &Base,
    scheduler: Arc<dyn Scheduler>,
    queue: Arc<dyn JobQueue>,
    uploads: Option<Arc<dyn FileUploads>>,
) -> JobRunner {
    let s = &base.stores;
    let enroller = enrollment_service(
        base,
        scheduler.clone(),
        job_service(base, queue.clone()),
        None,
    );
    let runner = JobRunner::new(
        base.clock.clone(),
        s.jobs.clone(),
        s.sequences.clone(),
        s.enrollments.clone(),
        transitions(base, scheduler),
        queue,
    )
    .with_imports(enroller, s.import_files.clone());
    match uploads {
        Some(uploads) => runner.with_uploads(uploads),
        None => runner,
    }
}

pub fn link_admin(base: &Base) -> LinkAdmin {
    LinkAdmin::new(
        base.clock.clone(),
        base.ids.clone(),
        base.stores.links.clone(),
        base.link_cache.clone(),
    )
}

pub fn redirect(base: &Base, sticky_key: StickyKey) -> Redirect {
    Redirect::new(
        base.clock.clone(),
        base.stores.routing.clone(),
        sticky_key,
        base.link_cache.clone(),
    )
}
