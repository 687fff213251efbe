//! `application/problem+json` (RFC 9457) errors. Every error response is made here, so the
//! mapping from a domain error to a status code lives in exactly one place.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ritmo_core::{DomainError, FieldError};
use serde::Serialize;
use utoipa::{IntoResponses, ToResponse, ToSchema};

pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error (RFC 9457 problem details). `errors` names each invalid field.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:ritmo:problem:invalid-request", "title": "Bad Request", "status": 400,
    "detail": "name: must not be empty (at most 120 characters)",
    "errors": [{"field": "name", "message": "must not be empty (at most 120 characters)"}]
}))]
pub struct Problem {
    /// `urn:ritmo:problem:<kind>`, one per kind of error.
    #[serde(rename = "type")]
    #[schema(example = "urn:ritmo:problem:invalid-request")]
    pub kind: String,
    /// The status code's reason phrase.
    pub title: String,
    /// The HTTP status code.
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    /// What went wrong, for a person to read.
    pub detail: String,
    /// The invalid fields (empty when the error is not about fields).
    pub errors: Vec<FieldError>,
    #[serde(skip)]
    pub www_authenticate: bool,
}

/// `400`: the request is malformed or a field is invalid; `errors` names each field.
#[derive(ToResponse)]
#[response(
    description = "The request is malformed or a field is invalid; `errors` names each field.",
    content_type = "application/problem+json",
    example = json!({
        "type": "urn:ritmo:problem:invalid-request", "title": "Bad Request", "status": 400,
        "detail": "name: must not be empty (at most 120 characters)",
        "errors": [{"field": "name", "message": "must not be empty (at most 120 characters)"}]
    })
)]
pub struct BadRequest(pub Problem);

/// `401`: no valid bearer token.
#[derive(ToResponse)]
#[response(
    description = "No valid bearer token (missing, malformed, badly signed or expired).",
    content_type = "application/problem+json",
    headers(("WWW-Authenticate" = String, description = "`Bearer`")),
    example = json!({
        "type": "urn:ritmo:problem:unauthorized", "title": "Unauthorized", "status": 401,
        "detail": "missing Authorization: Bearer token", "errors": []
    })
)]
pub struct Unauthorized(pub Problem);

/// `403`: the token may not do this.
#[derive(ToResponse)]
#[response(
    description = "The token may not do this: a `viewer` token may only read.",
    content_type = "application/problem+json",
    example = json!({
        "type": "urn:ritmo:problem:forbidden", "title": "Forbidden", "status": 403,
        "detail": "a viewer token may only read", "errors": []
    })
)]
pub struct Forbidden(pub Problem);

/// `404`: no such resource for this tenant.
#[derive(ToResponse)]
#[response(
    description = "No such resource for this tenant (another tenant's ids answer this too).",
    content_type = "application/problem+json",
    example = json!({
        "type": "urn:ritmo:problem:not-found", "title": "Not Found", "status": 404,
        "detail": "sequence not found", "errors": []
    })
)]
pub struct NotFound(pub Problem);

/// `409`: the resource's state forbids the operation.
#[derive(ToResponse)]
#[response(
    description = "The resource's state forbids the operation (e.g. editing an archived sequence), \
                   or the name is taken.",
    content_type = "application/problem+json",
    example = json!({
        "type": "urn:ritmo:problem:conflict", "title": "Conflict", "status": 409,
        "detail": "conflict: the sequence is archived", "errors": []
    })
)]
pub struct Conflict(pub Problem);

/// `413`: the body is larger than the API accepts.
#[derive(ToResponse)]
#[response(
    description = "The request body is larger than 2 MiB.",
    content_type = "application/problem+json",
    example = json!({
        "type": "urn:ritmo:problem:payload-too-large", "title": "Payload Too Large", "status": 413,
        "detail": "the request body is too large", "errors": []
    })
)]
pub struct PayloadTooLarge(pub Problem);

/// `415`: the body is not in a media type the operation accepts.
#[derive(ToResponse)]
#[response(
    description = "The body's `Content-Type` is not one the operation accepts.",
    content_type = "application/problem+json",
    example = json!({
        "type": "urn:ritmo:problem:unsupported-media-type", "title": "Unsupported Media Type",
        "status": 415, "detail": "the body must be JSON (Content-Type: application/json)", "errors": []
    })
)]
pub struct UnsupportedMediaType(pub Problem);

/// `422`: well formed, but impossible.
#[derive(ToResponse)]
#[response(
    description = "The request is well formed but cannot be carried out (e.g. the template is not \
                   approved); `errors` names the field.",
    content_type = "application/problem+json",
    example = json!({
        "type": "urn:ritmo:problem:unprocessable", "title": "Unprocessable Entity", "status": 422,
        "detail": "template 'promo_nov' is PENDING, not APPROVED",
        "errors": [{"field": "action.name", "message": "template 'promo_nov' is PENDING, not APPROVED"}]
    })
)]
pub struct Unprocessable(pub Problem);

/// `503`: a service Ritmo depends on did not answer.
#[derive(ToResponse)]
#[response(
    description = "WhatsApp (or another service Ritmo depends on) could not answer; try again.",
    content_type = "application/problem+json",
    example = json!({
        "type": "urn:ritmo:problem:unavailable", "title": "Service Unavailable", "status": 503,
        "detail": "could not look the template up with WhatsApp; try again", "errors": []
    })
)]
pub struct Unavailable(pub Problem);

/// The failures every authenticated operation can answer: `401` and `403`.
#[derive(IntoResponses)]
pub enum AuthErrors {
    #[response(status = 401)]
    Unauthorized(#[ref_response] Unauthorized),
    #[response(status = 403)]
    Forbidden(#[ref_response] Forbidden),
}

/// An authenticated operation on one resource named in the path: [`AuthErrors`] and `404`.
#[derive(IntoResponses)]
pub enum ResourceErrors {
    #[response(status = 401)]
    Unauthorized(#[ref_response] Unauthorized),
    #[response(status = 403)]
    Forbidden(#[ref_response] Forbidden),
    #[response(status = 404)]
    NotFound(#[ref_response] NotFound),
}

/// What a JSON (or CSV) request body can fail on: `400`, `413` and `415`.
#[derive(IntoResponses)]
pub enum BodyErrors {
    #[response(status = 400)]
    BadRequest(#[ref_response] BadRequest),
    #[response(status = 413)]
    PayloadTooLarge(#[ref_response] PayloadTooLarge),
    #[response(status = 415)]
    UnsupportedMediaType(#[ref_response] UnsupportedMediaType),
}

/// A paginated listing: [`AuthErrors`] and `400` for a bad `limit` or `cursor`.
#[derive(IntoResponses)]
pub enum ListErrors {
    #[response(status = 400)]
    BadRequest(#[ref_response] BadRequest),
    #[response(status = 401)]
    Unauthorized(#[ref_response] Unauthorized),
    #[response(status = 403)]
    Forbidden(#[ref_response] Forbidden),
}

impl Problem {
    pub fn new(status: StatusCode, kind: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:ritmo:problem:{kind}"),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            www_authenticate: false,
        }
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    pub fn bad_request(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            format!("{field}: {message}"),
        )
        .with_errors(vec![FieldError::new(field, message)])
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        let mut problem = Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail);
        problem.www_authenticate = true;
        problem
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("{what} not found"),
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "an internal error occurred; it has been logged",
        )
    }
}

impl From<DomainError> for Problem {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::Invalid(errors) => {
                let detail = errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                Problem::new(StatusCode::BAD_REQUEST, "invalid-request", detail).with_errors(errors)
            }
            DomainError::Unprocessable { detail, errors } => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "unprocessable", detail)
                    .with_errors(errors)
            }
            DomainError::NotFound(what) => Problem::not_found(what),
            DomainError::Conflict(detail) => Problem::new(StatusCode::CONFLICT, "conflict", detail),
            DomainError::Unavailable(detail) => {
                Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail)
            }
            // Refused for capacity after the adapter's retries: the caller may try again.
            DomainError::Port(error) if error.is_retryable() => {
                tracing::warn!(error = %error, cause = ?std::error::Error::source(&error), "adapter throttled");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the service is busy; try again shortly",
                )
            }
            DomainError::Port(error) => {
                tracing::error!(error = %error, cause = ?std::error::Error::source(&error), "adapter failure");
                Problem::internal()
            }
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if self.www_authenticate {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// What every handler returns on failure.
pub type ApiResult<T> = Result<T, Problem>;

impl From<ritmo_core::PortError> for Problem {
    fn from(error: ritmo_core::PortError) -> Self {
        DomainError::Port(error).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ritmo_core::PortError;

    #[test]
    fn a_throttled_adapter_is_a_503_and_any_other_failure_a_500_neither_saying_why() {
        let busy = Problem::from(PortError::retryable("DynamoDB throttled the write"));
        assert_eq!(busy.status, 503);
        assert_eq!(busy.kind, "urn:ritmo:problem:unavailable");
        assert!(!busy.detail.contains("DynamoDB"));
        let failed = Problem::from(PortError::new("DynamoDB GetItem failed"));
        assert_eq!(failed.status, 500);
        assert!(!failed.detail.contains("DynamoDB"));
    }
}
