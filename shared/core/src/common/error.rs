//! Domain errors. Every error names what went wrong in terms a caller can act on; the HTTP layer
//! maps each variant to exactly one status code.

use serde::Serialize;

/// One invalid field of a request, named by its JSON path (`steps[0].delay.amount`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"field": "steps[0].delay.amount", "message": "must be at most 365 days"})))]
pub struct FieldError {
    /// The JSON path of the field (`body` for the document as a whole).
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same error, one level deeper: `prefix` + `.` + field (or `prefix[...]`).
    pub fn nested(mut self, prefix: &str) -> Self {
        self.field = if self.field.is_empty() {
            prefix.to_string()
        } else if self.field.starts_with('[') {
            format!("{prefix}{}", self.field)
        } else {
            format!("{prefix}.{}", self.field)
        };
        self
    }
}

/// What kind of failure a port reports: whether trying the same thing again later can work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PortErrorKind {
    /// The operation failed; trying it again as it is will not help.
    #[default]
    Failed,
    /// The service refused for capacity or contention (throttling, a request limit, a
    /// transaction cancelled for throughput or for another transaction on its items) after the
    /// adapter's own retries: the same operation may succeed after a backoff. Never a
    /// conflict: no condition was found false.
    Retryable,
}

/// A failure of a port (store, scheduler, messenger): infrastructure, never the caller's fault.
#[derive(Debug, thiserror::Error)]
#[error("{context}")]
pub struct PortError {
    pub context: String,
    pub kind: PortErrorKind,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl PortError {
    pub fn new(context: impl Into<String>) -> Self {
        Self {
            context: context.into(),
            kind: PortErrorKind::Failed,
            source: None,
        }
    }

    pub fn with_source(
        context: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            context: context.into(),
            kind: PortErrorKind::Failed,
            source: Some(Box::new(source)),
        }
    }

    /// The same error, of `kind`.
    pub fn of_kind(mut self, kind: PortErrorKind) -> Self {
        self.kind = kind;
        self
    }

    /// A refusal for capacity or contention: retryable after a backoff.
    pub fn retryable(context: impl Into<String>) -> Self {
        Self::new(context).of_kind(PortErrorKind::Retryable)
    }

    /// Whether trying the same operation again after a backoff may succeed.
    pub fn is_retryable(&self) -> bool {
        self.kind == PortErrorKind::Retryable
    }
}

/// What a domain service answers when it cannot do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// The request is malformed or a field is invalid (HTTP 400).
    #[error("invalid request: {}", summary(.0))]
    Invalid(Vec<FieldError>),
    /// The request is well formed but cannot be carried out (HTTP 422).
    #[error("unprocessable: {detail}")]
    Unprocessable {
        detail: String,
        errors: Vec<FieldError>,
    },
    /// No such resource for this tenant (HTTP 404).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The resource's state forbids the operation (HTTP 409).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A service Ritmo depends on (WhatsApp, a bot) could not answer (HTTP 503).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// An adapter failed (HTTP 500/503, details only in logs).
    #[error(transparent)]
    Port(#[from] PortError),
}

impl DomainError {
    /// An adapter refused for capacity or contention: the same operation may succeed after a backoff.
    pub fn is_retryable(&self) -> bool {
        matches!(self, DomainError::Port(error) if error.is_retryable())
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }

    pub fn unprocessable(field: impl Into<String>, message: impl Into<String>) -> Self {
        let error = FieldError::new(field, message);
        Self::Unprocessable {
            detail: error.message.clone(),
            errors: vec![error],
        }
    }
}

fn summary(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}
