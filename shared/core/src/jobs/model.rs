//! A job: what it walks, how far it got, and what it counted.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use crate::common::tenant::TenantId;
use crate::enrollments::model::EnrollmentStatus;

/// Most enrollments whose failure a job keeps for its error file; further failures are counted
/// in `failed` only (the job item stays far below a store's item size limit).
pub const MAX_KEPT_FAILURES: usize = 1000;

/// What a job does to each enrollment it walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Ends every active enrollment of an archived sequence (`sequence_archived`).
    ArchiveSequence,
    /// Plans every held step of a resumed sequence again.
    ResumeSequence,
    /// Removes the enrollments of one status (ending a run as a single removal does).
    RemoveEnrollments,
    /// Enrolls the contacts of an uploaded CSV file, row by row.
    ImportContacts,
    /// Removes the contacts of an uploaded CSV file's `phone` column, row by row.
    RemoveContacts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }
}

/// An enrollment whose change failed for good, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobFailure {
    /// The file's row (1 is the first after the header), for an import.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row: Option<u64>,
    pub phone: String,
    pub reason: String,
}

/// An import's file as its upload left it: stored in parts of `part_bytes` (the last shorter),
/// its header already read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportFile {
    /// The whole file's size.
    pub bytes: u64,
    pub part_bytes: u32,
    /// The header's column names, trimmed and lower-cased (one of them is `phone`).
    pub columns: Vec<String>,
    /// `,` or `;`, as the header uses.
    pub delimiter: u8,
    /// Where the first row starts (after the byte-order mark and the header).
    pub body_start: u64,
    /// For a file the client uploaded through a link: the stored object's tag (its S3 ETag)
    /// as its upload left it; it is read by ranges of `part_bytes`, not from parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_tag: Option<String>,
}

impl ImportFile {
    /// How many parts the file is stored in.
    pub fn parts(&self) -> u32 {
        self.bytes.div_ceil(u64::from(self.part_bytes.max(1))) as u32
    }
}

/// A job as stored. Every write is conditioned on `version` (the runner's cursor and counts,
/// a cancellation), so two instances never both advance the same job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub tenant: TenantId,
    pub id: Ulid,
    /// Stored as `job_kind` (a store may keep the item's own type under `kind`).
    #[serde(rename = "job_kind")]
    pub kind: JobKind,
    pub status: JobStatus,
    pub sequence_id: Ulid,
    /// The enrollment status a removal walks (`active` for archive and resume).
    pub filter: EnrollmentStatus,
    /// Where the walk goes on: the store's cursor after the last enrollment handled (for an
    /// import, the byte offset of the next row); `None` before the first chunk (and once the
    /// walk is done).
    pub cursor: Option<String>,
    /// An import's file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<ImportFile>,
    /// While the job waits for its file to be uploaded through a link: when the link expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_expires_at: Option<DateTime<Utc>>,
    /// Enrollments the walk has reached so far (final once the job is finished).
    pub total: u64,
    /// Enrollments handled (changed, or already as the job wants them).
    pub done: u64,
    /// Enrollments whose change failed after its retries.
    pub failed: u64,
    /// The first [`MAX_KEPT_FAILURES`] failures.
    pub failures: Vec<JobFailure>,
    /// Why the job itself failed, when it did.
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub version: u64,
}

impl Job {
    pub fn new(
        tenant: TenantId,
        id: Ulid,
        kind: JobKind,
        sequence_id: Ulid,
        filter: EnrollmentStatus,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            tenant,
            id,
            kind,
            status: JobStatus::Queued,
            sequence_id,
            filter,
            cursor: None,
            file: None,
            upload_expires_at: None,
            total: 0,
            done: 0,
            failed: 0,
            failures: Vec::new(),
            error: None,
            created_at: now,
            updated_at: now,
            finished_at: None,
            version: 1,
        }
    }

    /// Records one enrollment that failed for good.
    pub fn record_failure(&mut self, phone: &str, reason: String) {
        self.keep_failure(None, phone, reason);
    }

    /// Records one row of an import that was rejected.
    pub fn record_row_failure(&mut self, row: u64, phone: &str, reason: String) {
        self.keep_failure(Some(row), phone, reason);
    }

    fn keep_failure(&mut self, row: Option<u64>, phone: &str, reason: String) {
        self.failed += 1;
        if self.failures.len() < MAX_KEPT_FAILURES {
            self.failures.push(JobFailure {
                row,
                phone: phone.to_string(),
                reason,
            });
        }
    }

    /// Ends the job with `status`.
    pub fn finish(&mut self, status: JobStatus, now: DateTime<Utc>) {
        self.status = status;
        self.cursor = None;
        self.finished_at = Some(now);
    }

    /// The error file: `phone,reason` (`row,phone,reason` for an import), one line per kept
    /// failure.
    pub fn errors_csv(&self) -> String {
        let rows = matches!(self.kind, JobKind::ImportContacts | JobKind::RemoveContacts);
        let mut out = String::from(if rows {
            "row,phone,reason\n"
        } else {
            "phone,reason\n"
        });
        for failure in &self.failures {
            if rows {
                out.push_str(&failure.row.unwrap_or_default().to_string());
                out.push(',');
            }
            out.push_str(&csv_field(&failure.phone));
            out.push(',');
            out.push_str(&csv_field(&failure.reason));
            out.push('\n');
        }
        out
    }
}

fn csv_field(raw: &str) -> String {
    if raw.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", raw.replace('"', "\"\""))
    } else {
        raw.to_string()
    }
}

/// A job as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"id": "01JD8X4Z2W6Q4T1N7K3M5P9R2B", "kind": "archive_sequence",
    "status": "running", "sequence_id": "01JD8X4Z2W6Q4T1N7K3M5P9R2A", "total": 1200, "done": 1198, "failed": 2,
    "progress": null, "awaiting_upload": false, "created_at": "2026-11-23T12:00:00Z", "finished_at": null})))]
pub struct JobView {
    pub id: Ulid,
    pub kind: JobKind,
    pub status: JobStatus,
    pub sequence_id: Ulid,
    /// Enrollments the walk has reached so far (final once the job is finished).
    pub total: u64,
    /// Enrollments handled.
    pub done: u64,
    /// Enrollments whose change failed after its retries (listed in `errors.csv`).
    pub failed: u64,
    /// For an import: the share of the file read so far, 0 to 1 (`null` for other jobs).
    #[cfg_attr(feature = "openapi", schema(required, minimum = 0, maximum = 1))]
    pub progress: Option<f64>,
    /// The job waits for its file, to be uploaded to the link its request answered (it stays
    /// `queued` until the upload completes, and fails if none does before the link expires).
    pub awaiting_upload: bool,
    pub created_at: DateTime<Utc>,
    #[cfg_attr(feature = "openapi", schema(required))]
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<Job> for JobView {
    fn from(job: Job) -> Self {
        let progress = job.file.as_ref().map(|file| {
            if job.status.is_finished() || file.bytes <= file.body_start {
                return 1.0;
            }
            let at = job
                .cursor
                .as_deref()
                .and_then(|c| c.parse::<u64>().ok())
                .unwrap_or(file.body_start);
            let read = (at.saturating_sub(file.body_start)) as f64;
            (read / (file.bytes - file.body_start) as f64).clamp(0.0, 1.0)
        });
        Self {
            progress,
            awaiting_upload: job.upload_expires_at.is_some() && !job.status.is_finished(),
            id: job.id,
            kind: job.kind,
            status: job.status,
            sequence_id: job.sequence_id,
            total: job.total,
            done: job.done,
            failed: job.failed,
            created_at: job.created_at,
            finished_at: job.finished_at,
        }
    }
}

/// The answer of a request that started a job: `202` with its id.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"job_id": "01JD8X4Z2W6Q4T1N7K3M5P9R2B"})))]
pub struct JobStarted {
    pub job_id: Ulid,
    /// Only when an upload link was asked for (`{"upload": true}`): `PUT` the file (the whole
    /// CSV, as the body) to this URL before `upload_expires_at`; the job starts when the upload
    /// completes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload_url: Option<String>,
    /// `PUT`, with an upload link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload_method: Option<String>,
    /// When the upload link expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload_expires_at: Option<DateTime<Utc>>,
}

impl JobStarted {
    pub fn of(job_id: Ulid) -> Self {
        Self {
            job_id,
            upload_url: None,
            upload_method: None,
            upload_expires_at: None,
        }
    }

    pub fn upload(started: crate::jobs::upload::UploadStarted) -> Self {
        Self {
            job_id: started.job_id,
            upload_url: Some(started.upload_url),
            upload_method: Some("PUT".into()),
            upload_expires_at: Some(started.upload_expires_at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_file_quotes_what_needs_quoting() {
        let mut job = Job::new(
            TenantId::parse("acme").unwrap(),
            Ulid::nil(),
            JobKind::ArchiveSequence,
            Ulid::nil(),
            EnrollmentStatus::Active,
            Utc::now(),
        );
        job.record_failure("+5511987654321", "store unavailable, \"retried\"".into());
        assert_eq!(
            job.errors_csv(),
            "phone,reason\n+5511987654321,\"store unavailable, \"\"retried\"\"\"\n"
        );
        assert_eq!(job.failed, 1);
    }
}
