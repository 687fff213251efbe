//! Background jobs: work that grows with a sequence's audience (imports, archive, resume, bulk
//! removal) walks its file or its enrollments in chunks outside the request, resumable from a cursor kept with the job.

pub mod import;
pub mod model;
pub mod runner;
pub mod service;
pub mod store;
pub mod upload;

pub use import::{ImportFiles, ImportUpload};
pub use model::{ImportFile, Job, JobFailure, JobKind, JobStatus, JobView};
pub use runner::{ChunkOutcome, JobRunner};
pub use service::JobService;
pub use store::{JobQueue, JobStore};
pub use upload::{FileUploads, UploadCompleted, UploadRead, UploadStarted};
