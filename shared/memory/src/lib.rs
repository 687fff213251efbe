//! Ritmo's in-process adapters that do I/O, for running on one machine with no AWS: the
//! scheduler and the job queue as tokio tasks, and import files and upload links in a
//! directory. The in-memory stores they work with stay beside their ports in `ritmo-core`.

pub mod files;
pub mod jobs;
pub mod scheduler;

pub use files::{DirImportFiles, DirUploads, LOCAL_UPLOAD_PATH};
pub use jobs::LocalJobQueue;
pub use scheduler::LocalScheduler;
