//! The composition root: the ports of one running Ritmo, and each service built from only the
//! ports it uses. The local server and the tests build every service from one `Ports`; each
//! Lambda function builds only the services it serves.

use std::sync::Arc;

use crate::adapters::{
    LocalJobQueue, MemoryImportFiles, MemoryJobStore, MemoryLinkStore, MemoryStore,
};
use crate::channels::service::ChannelService;
use crate::channels::store::{BotStore, ChannelStore};
use crate::common::clock::Clock;
use crate::common::ids::IdGen;
use crate::common::net::{HostResolver, SystemResolver};
use crate::delivery::inbound::InboundWebhooks;
use crate::delivery::pacing::{LocalSlots, SendSlots};
use crate::delivery::ports::{Messenger, Scheduler};
use crate::delivery::ports::{NoMetrics, SendMetrics};
use crate::delivery::reconcile::{ReconcileSettings, Reconciler};
use crate::delivery::sender::Sender;
use crate::enrollments::enroll::EnrollmentService;
use crate::enrollments::pricing::RateCard;
use crate::enrollments::stats::StatsService;
use crate::enrollments::store::EnrollmentStore;
use crate::enrollments::transitions::EnrollmentTransitions;
use crate::jobs::{ImportFiles, JobQueue, JobRunner, JobService, JobStore};
use crate::links::admin::LinkAdmin;
use crate::links::redirect::{LinkCache, Redirect};
use crate::links::{LinkRouting, LinkStore, StickyKey};
use crate::sequences::service::SequenceService;
use crate::sequences::store::SequenceStore;

#[derive(Clone)]
pub struct Ports {
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdGen>,
    pub channels: Arc<dyn ChannelStore>,
    pub bots: Arc<dyn BotStore>,
    pub sequences: Arc<dyn SequenceStore>,
    pub enrollments: Arc<dyn EnrollmentStore>,
    /// Background jobs (archive, resume, bulk removal) and where their chunks are queued.
    pub jobs: Arc<dyn JobStore>,
    pub job_queue: Arc<dyn JobQueue>,
    /// Where import files are kept while their jobs run.
    pub import_files: Arc<dyn ImportFiles>,
    /// Where files uploaded through links are kept (none: no upload links are given).
    pub uploads: Option<Arc<dyn crate::jobs::FileUploads>>,
    pub links: Arc<dyn LinkStore>,
    pub routing: Arc<dyn LinkRouting>,
    pub messenger: Arc<dyn Messenger>,
    pub scheduler: Arc<dyn Scheduler>,
    /// The numbers' send slots: in process here, in the store's table in production.
    pub slots: Arc<dyn SendSlots>,
    /// The redirect's cache of link configurations, cleared by link changes in this process.
    pub link_cache: Arc<LinkCache>,
    /// Prices for the estimated cost in sequence statistics, when the operator gives them.
    pub rate_card: Option<Arc<RateCard>>,
    /// Where the sender reports its outcomes per number.
    pub metrics: Arc<dyn SendMetrics>,
    /// Resolves bots' host names for the save-time reachability check.
    pub resolver: Arc<dyn HostResolver>,
    /// Bots may point at this machine or a private network (local development only).
    pub allow_private_bots: bool,
}

impl Ports {
    /// Every store in memory (the local server and tests).
    pub fn in_memory(
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGen>,
        messenger: Arc<dyn Messenger>,
        scheduler: Arc<dyn Scheduler>,
    ) -> Self {
        let store = Arc::new(MemoryStore::new());
        let links = Arc::new(MemoryLinkStore::new());
        let slots = Arc::new(LocalSlots::new(clock.clone()));
        let mut ports = Self {
            clock,
            ids,
            channels: store.clone(),
            bots: store.clone(),
            sequences: store.clone(),
            enrollments: store,
            jobs: Arc::new(MemoryJobStore::new()),
            job_queue: LocalJobQueue::new(),
            import_files: Arc::new(MemoryImportFiles::new()),
            uploads: None,
            links: links.clone(),
            routing: links,
            messenger,
            scheduler,
            slots,
            link_cache: Arc::new(LinkCache::new()),
            rate_card: None,
            metrics: Arc::new(NoMetrics),
            resolver: Arc::new(SystemResolver),
            allow_private_bots: false,
        };
        ports.local_jobs();
        ports
    }

    /// Runs jobs in this process: a new in-process queue whose runner works on these ports
    /// (call again after replacing a store), not started yet.
    pub fn local_jobs(&mut self) -> Arc<LocalJobQueue> {
        let queue = LocalJobQueue::new();
        self.job_queue = queue.clone();
        queue.set_runner(Arc::new(self.job_runner()));
        queue
    }

    fn enrollment_transitions(&self) -> EnrollmentTransitions {
        EnrollmentTransitions::new(
            self.clock.clone(),
            self.enrollments.clone(),
            self.scheduler.clone(),
            self.channels.clone(),
            self.slots.clone(),
        )
    }

    pub fn job_service(&self) -> JobService {
        JobService::new(
            self.clock.clone(),
            self.ids.clone(),
            self.jobs.clone(),
            self.job_queue.clone(),
        )
    }

    pub fn job_runner(&self) -> JobRunner {
        let runner = JobRunner::new(
            self.clock.clone(),
            self.jobs.clone(),
            self.sequences.clone(),
            self.enrollments.clone(),
            self.enrollment_transitions(),
            self.job_queue.clone(),
        )
        .with_imports(self.enrollment_service(), self.import_files.clone());
        match &self.uploads {
            Some(uploads) => runner.with_uploads(uploads.clone()),
            None => runner,
        }
    }

    pub fn channel_service(&self) -> ChannelService {
        ChannelService::new(
            self.clock.clone(),
            self.ids.clone(),
            self.channels.clone(),
            self.bots.clone(),
            self.messenger.clone(),
            (!self.allow_private_bots).then(|| self.resolver.clone()),
        )
    }

    pub fn sequence_service(&self) -> SequenceService {
        SequenceService::new(
            self.clock.clone(),
            self.ids.clone(),
            self.sequences.clone(),
            self.channels.clone(),
            self.bots.clone(),
            self.messenger.clone(),
            self.job_service(),
        )
    }

    pub fn enrollment_service(&self) -> EnrollmentService {
        let service = EnrollmentService::new(
            self.clock.clone(),
            self.ids.clone(),
            self.sequences.clone(),
            self.enrollments.clone(),
            self.scheduler.clone(),
            self.channels.clone(),
            self.slots.clone(),
            self.job_service(),
        )
        .with_imports(self.import_files.clone());
        match &self.uploads {
            Some(uploads) => service.with_uploads(uploads.clone()),
            None => service,
        }
    }

    pub fn stats_service(&self) -> StatsService {
        StatsService::new(
            self.sequences.clone(),
            self.enrollments.clone(),
            self.rate_card.clone(),
        )
    }

    pub fn sender(&self) -> Sender {
        Sender::new(
            self.clock.clone(),
            self.sequences.clone(),
            self.enrollments.clone(),
            self.channels.clone(),
            self.bots.clone(),
            self.messenger.clone(),
            self.scheduler.clone(),
            self.slots.clone(),
        )
        .with_metrics(self.metrics.clone())
    }

    pub fn reconciler(&self, settings: ReconcileSettings) -> Reconciler {
        Reconciler::new(
            self.clock.clone(),
            self.enrollments.clone(),
            self.sender(),
            settings,
        )
    }

    pub fn inbound(&self) -> InboundWebhooks {
        InboundWebhooks::new(
            self.clock.clone(),
            self.channels.clone(),
            self.sequences.clone(),
            self.enrollments.clone(),
            self.scheduler.clone(),
            self.slots.clone(),
        )
    }

    pub fn link_admin(&self) -> LinkAdmin {
        LinkAdmin::new(
            self.clock.clone(),
            self.ids.clone(),
            self.links.clone(),
            self.link_cache.clone(),
        )
    }

    pub fn redirect(&self, sticky_key: StickyKey) -> Redirect {
        Redirect::new(
            self.clock.clone(),
            self.routing.clone(),
            sticky_key,
            self.link_cache.clone(),
        )
    }
}
