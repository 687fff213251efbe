//! The service container: the ports one running Ritmo uses, shared by every route and by the
//! sender. Behaviour lives in `impl Ritmo` blocks, one module per family.

use std::sync::Arc;

use crate::clock::Clock;
use crate::ids::IdGen;
use crate::links::LinkStore;
use crate::ports::{Messenger, Scheduler};
use crate::store::{BotStore, ChannelStore};

#[derive(Clone)]
pub struct Ritmo {
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdGen>,
    pub channels: Arc<dyn ChannelStore>,
    pub bots: Arc<dyn BotStore>,
    pub links: Arc<dyn LinkStore>,
    pub messenger: Arc<dyn Messenger>,
    pub scheduler: Arc<dyn Scheduler>,
}
