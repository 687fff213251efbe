//! The local server's upload route, `PUT /v1/uploads/{job_id}?tenant&expires&signature`: where
//! the link of `{"upload": true}` points on `ritmo-local` (in the stack it is a pre-signed S3
//! URL). As with S3, the signature is the authorization (no bearer token), the body is the whole
//! file, and the upload's completion starts the job.

use std::io::Write;
use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use http_body_util::BodyExt;
use ritmo_core::common::clock::Clock;
use ritmo_core::common::tenant::TenantId;
use ritmo_core::jobs::import::MAX_IMPORT_BYTES;
use ritmo_core::jobs::{JobRunner, JobService};
use ritmo_memory::{DirUploads, LOCAL_UPLOAD_PATH};
use serde::Deserialize;
use ulid::Ulid;

use ritmo_http::extract::Path;
use ritmo_http::problem::{ApiResult, Problem};

/// What the upload route needs: where files go, the jobs they belong to, and the runner their
/// completion is told to.
#[derive(Clone)]
pub struct LocalUploadState {
    pub uploads: Arc<DirUploads>,
    pub jobs: JobService,
    pub runner: JobRunner,
    pub clock: Arc<dyn Clock>,
}

#[derive(Deserialize)]
pub(crate) struct UploadQuery {
    tenant: Option<String>,
    expires: Option<String>,
    signature: Option<String>,
}

pub fn router(state: LocalUploadState) -> Router {
    Router::new()
        .route(
            &format!("{LOCAL_UPLOAD_PATH}/{{job_id}}"),
            axum::routing::put(upload),
        )
        .with_state(state)
}

fn denied(detail: &str) -> Problem {
    Problem::forbidden(detail)
}

fn not_stored() -> Problem {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "the file could not be stored; try again",
    )
}

async fn upload(
    State(s): State<LocalUploadState>,
    Path(job_id): Path<String>,
    Query(query): Query<UploadQuery>,
    req: Request,
) -> ApiResult<Response> {
    let job_id: Ulid = job_id
        .parse()
        .map_err(|_| Problem::bad_request("job_id", "is not a job id"))?;
    let (Some(tenant), Some(expires), Some(signature)) =
        (query.tenant, query.expires, query.signature)
    else {
        return Err(denied("the upload link is incomplete"));
    };
    let expires: i64 = expires
        .parse()
        .map_err(|_| denied("the upload link is not valid"))?;
    let tenant = TenantId::parse(&tenant).map_err(|_| denied("the upload link is not valid"))?;
    if !s.uploads.verify(&tenant, job_id, expires, &signature) {
        return Err(denied("the upload link is not valid"));
    }
    if s.clock.now().timestamp() > expires {
        return Err(denied("the upload link has expired"));
    }
    let job = s.jobs.job(&tenant, job_id).await?;
    if job.upload_expires_at.is_none() || job.status.is_finished() {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "conflict",
            format!(
                "the job no longer waits for its file (it is {})",
                job.status.as_str()
            ),
        ));
    }
    let path = s.uploads.path(&tenant, job_id);
    let partial = path.with_extension(format!("part-{}", Ulid::new()));
    let (bytes, tag) = match write_body(req, &partial).await {
        Ok(written) => written,
        Err(problem) => {
            let _ = std::fs::remove_file(&partial);
            return Err(problem);
        }
    };
    // The whole file appears at once, as an S3 object does when its PUT completes.
    std::fs::rename(&partial, &path).map_err(|_| not_stored())?;
    let tag = std::fs::metadata(&path)
        .map(|m| DirUploads::tag_of(&m))
        .unwrap_or(tag);
    s.runner
        .upload_complete(&tenant, job_id, bytes, &tag)
        .await?;
    Ok(StatusCode::OK.into_response())
}

/// Writes the body to `path` as it arrives: its size and tag.
async fn write_body(req: Request, path: &std::path::Path) -> Result<(u64, String), Problem> {
    let stored = |_| not_stored();
    let target = path.to_path_buf();
    let mut file = blocking(move || std::fs::File::create(target))
        .await
        .map_err(stored)?;
    let mut body = req.into_body();
    let mut bytes = 0u64;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|_| Problem::bad_request("body", "could not read the request body"))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        bytes += data.len() as u64;
        if bytes > MAX_IMPORT_BYTES {
            return Err(Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                format!("the file is over {} MiB", MAX_IMPORT_BYTES >> 20),
            ));
        }
        file = blocking(move || file.write_all(&data).map(|()| file))
            .await
            .map_err(stored)?;
    }
    let meta = blocking(move || file.sync_all().and_then(|()| file.metadata()))
        .await
        .map_err(stored)?;
    Ok((bytes, DirUploads::tag_of(&meta)))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)))
}
