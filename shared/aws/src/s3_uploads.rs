//! Files uploaded through pre-signed links, on S3: one object per job under
//! `imports/{tenant}/{job_id}.csv` in the imports bucket (private, encrypted, expired by a
//! lifecycle rule). The link is a pre-signed `PutObject`; S3's "Object Created" event, through
//! EventBridge to the job queue, tells the job worker the upload completed
//! ([`UploadEvent`]); the job reads the object by ranged `GetObject`s conditioned on the ETag the
//! event named, so a file replaced under the same link is never read as the one that was checked.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::presigning::PresigningConfig;
use chrono::{DateTime, Utc};
use ritmo_core::common::tenant::TenantId;
use ritmo_core::jobs::{FileUploads, UploadCompleted, UploadRead};
use ritmo_core::PortError;
use serde::Deserialize;
use ulid::Ulid;

/// The object key of a job's file.
pub fn object_key(tenant: &TenantId, job_id: Ulid) -> String {
    format!("imports/{tenant}/{job_id}.csv")
}

/// The tenant and job of an object key made by [`object_key`].
pub fn parse_key(key: &str) -> Option<(TenantId, Ulid)> {
    let rest = key.strip_prefix("imports/")?.strip_suffix(".csv")?;
    let (tenant, job) = rest.split_once('/')?;
    Some((TenantId::parse(tenant).ok()?, job.parse().ok()?))
}

/// The uploads in `bucket`.
#[derive(Clone)]
pub struct S3Uploads {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Uploads {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }
}

/// An ETag as an `If-Match` header carries it (EventBridge's events give it unquoted).
fn quoted(tag: &str) -> String {
    if tag.starts_with('"') {
        tag.to_string()
    } else {
        format!("\"{tag}\"")
    }
}

#[async_trait]
impl FileUploads for S3Uploads {
    async fn upload_url(
        &self,
        tenant: &TenantId,
        job_id: Ulid,
        expires_at: DateTime<Utc>,
    ) -> Result<String, PortError> {
        // Whole seconds, rounded up: the link lasts until `expires_at`.
        let millis = (expires_at - Utc::now()).num_milliseconds().max(1);
        let ttl = Duration::from_secs((millis as u64).div_ceil(1000));
        let config = PresigningConfig::expires_in(ttl)
            .map_err(|e| PortError::with_source("could not sign an upload link", e))?;
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(object_key(tenant, job_id))
            .presigned(config)
            .await
            .map_err(|e| PortError::with_source("could not sign an upload link", e))?;
        Ok(request.uri().to_string())
    }

    async fn read(
        &self,
        tenant: &TenantId,
        job_id: Ulid,
        tag: &str,
        start: u64,
        len: u32,
    ) -> Result<UploadRead, PortError> {
        if len == 0 {
            return Ok(UploadRead::Bytes(Vec::new()));
        }
        let end = start + u64::from(len) - 1;
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(object_key(tenant, job_id))
            .range(format!("bytes={start}-{end}"))
            .if_match(quoted(tag))
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            Err(error) => {
                let status = error.raw_response().map(|r| r.status().as_u16());
                if let Some(service) = error.as_service_error() {
                    if service.is_no_such_key() {
                        return Ok(UploadRead::Missing);
                    }
                }
                return match status {
                    // Not the object whose ETag the completion named.
                    Some(412) => Ok(UploadRead::Replaced),
                    // Past the end of the object: nothing left to read.
                    Some(416) => Ok(UploadRead::Bytes(Vec::new())),
                    _ => Err(PortError::with_source(
                        "S3 GetObject (an uploaded file) failed",
                        error,
                    )),
                };
            }
        };
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| PortError::with_source("could not read an uploaded file", e))?;
        Ok(UploadRead::Bytes(bytes.into_bytes().to_vec()))
    }

    async fn delete(&self, tenant: &TenantId, job_id: Ulid) -> Result<(), PortError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(object_key(tenant, job_id))
            .send()
            .await
            .map_err(|e| PortError::with_source("S3 DeleteObject (an uploaded file) failed", e))?;
        Ok(())
    }
}

/// S3's "Object Created" event for the imports bucket, as EventBridge delivers it to the job
/// queue (`detail-type` `Object Created`, `source` `aws.s3`).
#[derive(Debug, Clone, Deserialize)]
pub struct UploadEvent {
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    pub source: String,
    pub detail: UploadDetail,
}

#[derive(Debug, Clone, Deserialize)]
pub struct UploadDetail {
    pub bucket: UploadBucket,
    pub object: UploadObject,
}

#[derive(Debug, Clone, Deserialize)]
pub struct UploadBucket {
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct UploadObject {
    pub key: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub etag: String,
}

impl UploadEvent {
    /// The event in a queue message's body, if it is one.
    pub fn parse(body: &str) -> Option<Self> {
        let event: Self = serde_json::from_str(body).ok()?;
        (event.source == "aws.s3" && event.detail_type == "Object Created").then_some(event)
    }

    /// The job whose file this is: `None` for an object the imports bucket should not hold.
    pub fn job(&self) -> Option<(TenantId, Ulid)> {
        parse_key(&self.detail.object.key)
    }

    /// The completed upload a queue message's body tells of, if it is one (the job worker's
    /// reading of the messages that are not job messages).
    pub fn completed(body: &str) -> Option<UploadCompleted> {
        let event = Self::parse(body)?;
        let (tenant, job_id) = event.job()?;
        Some(UploadCompleted {
            tenant,
            job_id,
            bytes: event.detail.object.size,
            tag: event.detail.object.etag,
        })
    }
}
