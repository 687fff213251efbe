//! Files a client uploads itself, through a link, straight to where the job reads them (a
//! pre-signed S3 PUT in the stack, a signed upload route on `ritmo-local`): no request carries
//! them through the API, so their size is bounded by the job, not by a request payload.
//!
//! The job is stored `queued` and waiting for its file (`upload_expires_at`). The upload's
//! completion ([`crate::jobs::JobRunner::upload_complete`], on S3's "Object Created" event or
//! the local route's end) reads the header, stores the file with the job and queues it. A job
//! whose file never comes fails once the link has expired and a grace period for an upload
//! begun just before has passed.

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use ulid::Ulid;

use crate::common::error::PortError;
use crate::common::tenant::TenantId;

/// How long an upload link is valid.
pub const UPLOAD_LINK_TTL: TimeDelta = TimeDelta::minutes(15);
/// After the link expires, how long an upload begun before may still be completing.
pub const UPLOAD_GRACE: TimeDelta = TimeDelta::minutes(15);

/// Where uploaded files are kept, one object per job.
#[async_trait]
pub trait FileUploads: Send + Sync {
    /// A URL the client `PUT`s the job's file to, valid until `expires_at`.
    async fn upload_url(
        &self,
        tenant: &TenantId,
        job_id: Ulid,
        expires_at: DateTime<Utc>,
    ) -> Result<String, PortError>;

    /// Up to `len` bytes of the job's file from byte `start` (fewer at its end; empty past
    /// it), if the stored file is still the one whose `tag` the completion saw. A file
    /// replaced under the same link is never read.
    async fn read(
        &self,
        tenant: &TenantId,
        job_id: Ulid,
        tag: &str,
        start: u64,
        len: u32,
    ) -> Result<UploadRead, PortError>;

    /// Deletes the job's file (nothing if there is none).
    async fn delete(&self, tenant: &TenantId, job_id: Ulid) -> Result<(), PortError>;
}

/// What reading an uploaded file gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadRead {
    /// The bytes asked for (fewer at the file's end, none past it).
    Bytes(Vec<u8>),
    /// There is no file for the job (never uploaded, or deleted).
    Missing,
    /// The stored file is not the one the completion named: another `PUT` to the same link
    /// replaced it.
    Replaced,
}

impl UploadRead {
    /// The bytes, or why there are none, as the job's error.
    pub fn bytes(self) -> Result<Vec<u8>, &'static str> {
        match self {
            UploadRead::Bytes(bytes) => Ok(bytes),
            UploadRead::Missing => Err("the uploaded file is no longer there"),
            UploadRead::Replaced => Err(
                "the uploaded file was replaced by another upload to the same link while it was being imported; import it again with a new link",
            ),
        }
    }
}

/// A job waiting for its file, and the link to upload it to.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadStarted {
    pub job_id: Ulid,
    /// `PUT` the file (the whole CSV, as the body) to this URL before `upload_expires_at`.
    pub upload_url: String,
    pub upload_expires_at: DateTime<Utc>,
}

/// An upload that completed, as the storage's notification names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadCompleted {
    pub tenant: TenantId,
    pub job_id: Ulid,
    /// The stored file's size.
    pub bytes: u64,
    /// The stored file's tag (its S3 ETag).
    pub tag: String,
}
