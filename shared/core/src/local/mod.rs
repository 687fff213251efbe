//! Adapters for running on one machine with no AWS and no network: the in-process scheduler
//! and the outbox messenger. The in-memory store lives in [`crate::memory`].

pub mod outbox;
pub mod scheduler;

pub use outbox::{Outbox, OutboxEntry, OutboxFailure, OutboxKind};
pub use scheduler::LocalScheduler;
