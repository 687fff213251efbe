//! The in-memory stores, beside the ports they implement: the local server's default and the
//! tests'. (Adapters that do I/O — the in-process scheduler and job queue, files in a directory —
//! are in `ritmo-memory`; the outbox messenger, which records Cloud API bodies, in
//! `ritmo-whatsapp`.)

pub mod memory;
pub mod memory_jobs;
pub mod memory_links;

pub use memory::MemoryStore;
pub use memory_jobs::{MemoryImportFiles, MemoryJobStore};
pub use memory_links::MemoryLinkStore;
