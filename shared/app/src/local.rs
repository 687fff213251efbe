//! All of Ritmo in one process, as the local server and the tests run it: every function's
//! state built by the same builders as the Lambda functions, on one set of adapters, with the
//! in-process scheduler and job queue wired to the sender and job runner built here.

use std::sync::Arc;

use ritmo_core::channels::service::ChannelService;
use ritmo_core::common::clock::Clock;
use ritmo_core::common::ids::IdGen;
use ritmo_core::common::net::HostResolver;
use ritmo_core::delivery::inbound::InboundWebhooks;
use ritmo_core::delivery::ports::{Messenger, NoMetrics, SendMetrics};
use ritmo_core::delivery::reconcile::{ReconcileSettings, Reconciler};
use ritmo_core::delivery::sender::Sender;
use ritmo_core::enrollments::enroll::EnrollmentService;
use ritmo_core::enrollments::pricing::RateCard;
use ritmo_core::enrollments::stats::StatsService;
use ritmo_core::jobs::{FileUploads, JobRunner, JobService};
use ritmo_core::links::admin::LinkAdmin;
use ritmo_core::links::{PublicBase, StickyKey};
use ritmo_core::sequences::service::SequenceService;
use ritmo_http::{
    EnrollmentsState, LinksState, RedirectState, SequencesState, WebhookSettings, WebhookState,
};
use ritmo_memory::{LocalJobQueue, LocalScheduler};

use crate::{services, Base, Stores};

/// The adapters of one process, complete before anything is built from them.
#[derive(Clone)]
pub struct LocalAdapters {
    pub base: Base,
    pub messenger: Arc<dyn Messenger>,
    pub scheduler: Arc<LocalScheduler>,
    /// Where files uploaded through links are kept (none: no upload links are given).
    pub uploads: Option<Arc<dyn FileUploads>>,
    /// Prices for the estimated cost in sequence statistics.
    pub rate_card: Option<Arc<RateCard>>,
    /// Where the sender reports its outcomes per number.
    pub metrics: Arc<dyn SendMetrics>,
    /// Bots' addresses are checked through this resolver when saved (`None`: any address, for a
    /// bot under development on this machine).
    pub bot_addresses: Option<Arc<dyn HostResolver>>,
}

impl LocalAdapters {
    /// Every store in memory, bots' addresses checked through the system resolver, no upload
    /// links, no rate card, no metrics.
    pub fn in_memory(
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGen>,
        messenger: Arc<dyn Messenger>,
        scheduler: Arc<LocalScheduler>,
    ) -> Self {
        let stores = Stores::memory(clock.clone());
        Self {
            base: Base::new(clock, ids, stores),
            messenger,
            scheduler,
            uploads: None,
            rate_card: None,
            metrics: Arc::new(NoMetrics),
            bot_addresses: Some(Arc::new(ritmo_whatsapp::dns::SystemResolver)),
        }
    }
}

/// One process's Ritmo: the scheduler fires its sender, the job queue runs its job runner
/// (neither started: [`LocalScheduler::start`], [`LocalJobQueue::start`]).
#[derive(Clone)]
pub struct Local {
    adapters: LocalAdapters,
    jobs: Arc<LocalJobQueue>,
    sender: Sender,
}

impl Local {
    pub fn new(adapters: LocalAdapters) -> Self {
        let jobs = LocalJobQueue::new();
        let sender = services::sender(
            &adapters.base,
            adapters.messenger.clone(),
            adapters.scheduler.clone(),
            adapters.metrics.clone(),
        );
        let local = Self {
            adapters,
            jobs,
            sender,
        };
        local.jobs.set_runner(Arc::new(local.job_runner()));
        local
            .adapters
            .scheduler
            .set_runner(Arc::new(local.sender.clone()));
        local
    }

    pub fn base(&self) -> &Base {
        &self.adapters.base
    }

    pub fn scheduler(&self) -> &Arc<LocalScheduler> {
        &self.adapters.scheduler
    }

    /// The in-process job queue, its runner set.
    pub fn job_queue(&self) -> &Arc<LocalJobQueue> {
        &self.jobs
    }

    /// The sender the scheduler fires.
    pub fn sender(&self) -> &Sender {
        &self.sender
    }

    pub fn reconciler(&self, settings: ReconcileSettings) -> Reconciler {
        services::reconciler(self.base(), self.sender.clone(), settings)
    }

    pub fn job_service(&self) -> JobService {
        services::job_service(self.base(), self.jobs.clone())
    }

    pub fn job_runner(&self) -> JobRunner {
        crate::job_worker(
            self.base(),
            self.adapters.scheduler.clone(),
            self.jobs.clone(),
            self.adapters.uploads.clone(),
        )
    }

    pub fn sequences_api(&self) -> SequencesState {
        crate::sequences_api(
            self.base(),
            self.adapters.messenger.clone(),
            self.jobs.clone(),
            self.adapters.bot_addresses.clone(),
        )
    }

    pub fn enrollments_api(&self) -> EnrollmentsState {
        crate::enrollments_api(
            self.base(),
            self.adapters.scheduler.clone(),
            self.jobs.clone(),
            self.adapters.uploads.clone(),
            self.adapters.rate_card.clone(),
        )
    }

    pub fn links_api(&self, public: PublicBase) -> LinksState {
        crate::links_api(self.base(), public)
    }

    pub fn redirect(&self, sticky_key: StickyKey, public: PublicBase) -> RedirectState {
        crate::redirect(self.base(), sticky_key, public)
    }

    /// The webhook, applying notifications in the request.
    pub fn webhook(&self, settings: WebhookSettings) -> WebhookState {
        crate::webhook(self.base(), self.adapters.scheduler.clone(), settings, None)
    }

    pub fn inbound(&self) -> InboundWebhooks {
        crate::webhook_worker(self.base(), self.adapters.scheduler.clone())
    }

    pub fn channel_service(&self) -> ChannelService {
        self.sequences_api().channels
    }

    pub fn sequence_service(&self) -> SequenceService {
        self.sequences_api().sequences
    }

    pub fn enrollment_service(&self) -> EnrollmentService {
        self.enrollments_api().enrollments
    }

    pub fn stats_service(&self) -> StatsService {
        self.enrollments_api().stats
    }

    pub fn link_admin(&self) -> LinkAdmin {
        services::link_admin(self.base())
    }
}
