//! Route families. Each Lambda function serves one family; the local server merges them all.

pub mod channels;
pub mod enrollments;
pub mod jobs;
pub mod links;
pub mod redirect;
pub mod sequences;
pub mod webhook;

use axum::http::StatusCode;
use axum::response::IntoResponse;

use crate::problem::Problem;

pub async fn not_found() -> impl IntoResponse {
    Problem::new(StatusCode::NOT_FOUND, "not-found", "no such route")
}

pub async fn method_not_allowed() -> impl IntoResponse {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "this route does not accept that method",
    )
}
