//! Adapters for running on one machine with no AWS and no network: the in-memory stores and
//! the in-process scheduler. (The outbox messenger, which records Cloud API bodies, is in
//! `ritmo-whatsapp`.)

pub mod memory;
pub mod memory_links;
pub mod scheduler;

pub use memory::MemoryStore;
pub use memory_links::MemoryLinkStore;
pub use scheduler::LocalScheduler;
