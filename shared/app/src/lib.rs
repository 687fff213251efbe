//! The composition root: the one place Ritmo's services are built. Adapters come in typed and
//! complete (the stores as [`Stores`], with the clock and ids as [`Base`]; a scheduler, a
//! messenger, a job queue where a function uses them); each service is built by one function of
//! [`services`] from the sub-services it uses; each Lambda function has one builder here that
//! gives its handler's state. The local server and the tests build through the same builders
//! ([`local`], with the `local` feature).

#[cfg(feature = "local")]
pub mod local;
pub mod services;

use std::sync::Arc;

use ritmo_core::channels::store::{BotStore, ChannelStore};
use ritmo_core::common::clock::{Clock, SystemClock};
use ritmo_core::common::ids::{IdGen, UlidGen};
use ritmo_core::common::net::HostResolver;
use ritmo_core::delivery::inbound::InboundWebhooks;
use ritmo_core::delivery::pacing::SendSlots;
use ritmo_core::delivery::ports::{Messenger, NotificationQueue, Scheduler, SendMetrics};
use ritmo_core::delivery::reconcile::{ReconcileSettings, Reconciler};
use ritmo_core::delivery::sender::Sender;
use ritmo_core::enrollments::pricing::RateCard;
use ritmo_core::enrollments::store::EnrollmentStore;
use ritmo_core::jobs::{FileUploads, ImportFiles, JobQueue, JobRunner, JobStore};
use ritmo_core::links::redirect::LinkCache;
use ritmo_core::links::{LinkRouting, LinkStore, PublicBase, StickyKey};
use ritmo_core::sequences::store::SequenceStore;
use ritmo_http::{
    EnrollmentsState, LinksState, RedirectState, SequencesState, WebhookSettings, WebhookState,
};

/// Every store port. One adapter usually serves them all ([`Stores::of`]: the DynamoDB store);
/// in memory each has its own.
#[derive(Clone)]
pub struct Stores {
    pub channels: Arc<dyn ChannelStore>,
    pub bots: Arc<dyn BotStore>,
    pub sequences: Arc<dyn SequenceStore>,
    pub enrollments: Arc<dyn EnrollmentStore>,
    /// Background jobs (archive, resume, imports, bulk removal).
    pub jobs: Arc<dyn JobStore>,
    /// Where import files are kept while their jobs run.
    pub import_files: Arc<dyn ImportFiles>,
    pub links: Arc<dyn LinkStore>,
    pub routing: Arc<dyn LinkRouting>,
    /// The numbers' send slots, shared by every sender instance.
    pub slots: Arc<dyn SendSlots>,
}

impl Stores {
    /// Every port served by one store.
    pub fn of<S>(store: Arc<S>) -> Self
    where
        S: ChannelStore
            + BotStore
            + SequenceStore
            + EnrollmentStore
            + JobStore
            + ImportFiles
            + LinkStore
            + LinkRouting
            + SendSlots
            + 'static,
    {
        Self {
            channels: store.clone(),
            bots: store.clone(),
            sequences: store.clone(),
            enrollments: store.clone(),
            jobs: store.clone(),
            import_files: store.clone(),
            links: store.clone(),
            routing: store.clone(),
            slots: store,
        }
    }

    /// Every store in memory, each port its own (the local server's default and the tests').
    pub fn memory(clock: Arc<dyn Clock>) -> Self {
        use ritmo_core::adapters::{
            MemoryImportFiles, MemoryJobStore, MemoryLinkStore, MemoryStore,
        };
        let store = Arc::new(MemoryStore::new());
        let links = Arc::new(MemoryLinkStore::new());
        Self {
            channels: store.clone(),
            bots: store.clone(),
            sequences: store.clone(),
            enrollments: store,
            jobs: Arc::new(MemoryJobStore::new()),
            import_files: Arc::new(MemoryImportFiles::new()),
            links: links.clone(),
            routing: links,
            slots: Arc::new(ritmo_core::delivery::pacing::LocalSlots::new(clock)),
        }
    }

    /// The same stores with import files kept in `files` instead.
    pub fn with_import_files(self, files: Arc<dyn ImportFiles>) -> Self {
        Self {
            import_files: files,
            ..self
        }
    }
}

/// What every service is built on: the clock, the ids, the stores, and this process's cache of
/// link configurations (cleared by the link changes this process makes).
#[derive(Clone)]
pub struct Base {
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdGen>,
    pub stores: Stores,
    pub link_cache: Arc<LinkCache>,
}

impl Base {
    pub fn new(clock: Arc<dyn Clock>, ids: Arc<dyn IdGen>, stores: Stores) -> Self {
        Self {
            clock,
            ids,
            stores,
            link_cache: Arc::new(LinkCache::new()),
        }
    }

    /// On the system clock, with ULIDs from it (every Lambda function).
    pub fn system(stores: Stores) -> Self {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        Self::new(clock.clone(), Arc::new(UlidGen::new(clock)), stores)
    }
}

/// `sequences-api`: channels, bots, sequences, steps and jobs. Bots' addresses are checked
/// through `bot_addresses` when they are saved (`None`: any address, local development only).
pub fn sequences_api(
    base: &Base,
    messenger: Arc<dyn Messenger>,
    job_queue: Arc<dyn JobQueue>,
    bot_addresses: Option<Arc<dyn HostResolver>>,
) -> SequencesState {
    let jobs = services::job_service(base, job_queue);
    SequencesState {
        channels: services::channel_service(base, messenger.clone(), bot_addresses),
        sequences: services::sequence_service(base, messenger, jobs.clone()),
        jobs,
    }
}

/// `enrollments-api`: contacts enrolled, read and removed, imports, and statistics priced by
/// `rate_card`; upload links through `uploads` when the deployment gives them.
pub fn enrollments_api(
    base: &Base,
    scheduler: Arc<dyn Scheduler>,
    job_queue: Arc<dyn JobQueue>,
    uploads: Option<Arc<dyn FileUploads>>,
    rate_card: Option<Arc<RateCard>>,
) -> EnrollmentsState {
    let jobs = services::job_service(base, job_queue);
    EnrollmentsState {
        enrollments: services::enrollment_service(base, scheduler, jobs, uploads),
        stats: services::stats_service(base, rate_card),
    }
}

/// `links-api`: the link admin, its links published under `public`.
pub fn links_api(base: &Base, public: PublicBase) -> LinksState {
    LinksState {
        admin: services::link_admin(base),
        public,
    }
}

/// `redirect`: the click decision, published under `public`.
pub fn redirect(base: &Base, sticky_key: StickyKey, public: PublicBase) -> RedirectState {
    RedirectState {
        redirect: services::redirect(base, sticky_key),
        public,
    }
}

/// `sender`: the step sender, reporting to `metrics`, and the reconciler that fires what is
/// overdue through it.
pub fn sender(
    base: &Base,
    messenger: Arc<dyn Messenger>,
    scheduler: Arc<dyn Scheduler>,
    metrics: Arc<dyn SendMetrics>,
    settings: ReconcileSettings,
) -> (Sender, Reconciler) {
    let sender = services::sender(base, messenger, scheduler, metrics);
    let reconciler = services::reconciler(base, sender.clone(), settings);
    (sender, reconciler)
}

/// `webhook`: Meta's webhook with its keys; verified notifications go to `queue` (`None`:
/// applied in the request).
pub fn webhook(
    base: &Base,
    scheduler: Arc<dyn Scheduler>,
    settings: WebhookSettings,
    queue: Option<Arc<dyn NotificationQueue>>,
) -> WebhookState {
    WebhookState {
        inbound: webhook_worker(base, scheduler),
        settings,
        queue,
    }
}

/// `webhook-worker`: applies the queued notifications.
pub fn webhook_worker(base: &Base, scheduler: Arc<dyn Scheduler>) -> InboundWebhooks {
    services::inbound(base, scheduler)
}

/// `job-worker`: runs the chunks of background jobs and queues the next on `job_queue`.
pub fn job_worker(
    base: &Base,
    scheduler: Arc<dyn Scheduler>,
    job_queue: Arc<dyn JobQueue>,
    uploads: Option<Arc<dyn FileUploads>>,
) -> JobRunner {
    services::job_runner(base, scheduler, job_queue, uploads)
}
