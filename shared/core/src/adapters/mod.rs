//! Adapters for running on one machine with no AWS and no network: the in-memory stores, the
//! in-process scheduler and the in-process job queue. (The outbox messenger, which records
//! Cloud API bodies, is in `ritmo-whatsapp`.)

pub mod jobs;
pub mod memory;
pub mod memory_jobs;
pub mod memory_links;
pub mod scheduler;

pub use jobs::LocalJobQueue;
pub use memory::MemoryStore;
pub use memory_jobs::{
    DirImportFiles, DirUploads, MemoryImportFiles, MemoryJobStore, LOCAL_UPLOAD_PATH,
};
pub use memory_links::MemoryLinkStore;
pub use scheduler::LocalScheduler;
