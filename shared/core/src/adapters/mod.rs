//! Adapters for running on one machine with no AWS and no network: the in-memory stores, the
//! in-process scheduler and the outbox messenger.

pub mod memory;
pub mod memory_links;
pub mod outbox;
pub mod scheduler;

pub use memory::MemoryStore;
pub use memory_links::MemoryLinkStore;
pub use outbox::{Outbox, OutboxEntry, OutboxFailure, OutboxKind};
pub use scheduler::LocalScheduler;
