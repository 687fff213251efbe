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
    pub phone: String,
    pub reason: String,
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
    /// Where the walk goes on: the store's cursor after the last enrollment handled; `None`
    /// before the first chunk (and once the walk is done).
    pub cursor: Option<String>,
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
        self.failed += 1;
        if self.failures.len() < MAX_KEPT_FAILURES {
            self.failures.push(JobFailure {
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

    /// The error file: `phone,reason`, one line per kept failure.
    pub fn errors_csv(&self) -> String {
        let mut out = String::from("phone,reason\n");
        for failure in &self.failures {
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
    "created_at": "2026-11-23T12:00:00Z", "finished_at": null})))]
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
    pub created_at: DateTime<Utc>,
    #[cfg_attr(feature = "openapi", schema(required))]
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<Job> for JobView {
    fn from(job: Job) -> Self {
        Self {
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
