//! The service container: the ports one running Ritmo uses, shared by every route and by the
//! sender. Behaviour lives in `impl Ritmo` blocks, one module per family.

use std::sync::Arc;

use crate::clock::Clock;
use crate::ids::IdGen;
use crate::links::LinkStore;
use crate::pacing::Pacer;
use crate::ports::{Messenger, Scheduler};
use crate::pricing::RateCard;
use crate::store::{BotStore, ChannelStore, EnrollmentStore, SequenceStore};

#[derive(Clone)]
pub struct Ritmo {
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdGen>,
    pub channels: Arc<dyn ChannelStore>,
    pub bots: Arc<dyn BotStore>,
    pub links: Arc<dyn LinkStore>,
    pub sequences: Arc<dyn SequenceStore>,
    pub enrollments: Arc<dyn EnrollmentStore>,
    pub messenger: Arc<dyn Messenger>,
    pub scheduler: Arc<dyn Scheduler>,
    pub pacer: Arc<Pacer>,
    /// Prices for the estimated cost in sequence statistics, when the operator gives them.
    pub rate_card: Option<Arc<RateCard>>,
}

impl Ritmo {
    /// A Ritmo whose every store is one in-memory store (the local server and tests).
    pub fn in_memory(
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGen>,
        messenger: Arc<dyn Messenger>,
        scheduler: Arc<dyn Scheduler>,
    ) -> Self {
        let store = Arc::new(crate::memory::MemoryStore::new());
        Self {
            clock,
            ids,
            channels: store.clone(),
            bots: store.clone(),
            sequences: store.clone(),
            enrollments: store,
            links: Arc::new(crate::memory_links::MemoryLinkStore::new()),
            messenger,
            scheduler,
            pacer: Arc::new(Pacer::new()),
            rate_card: None,
        }
    }
}
