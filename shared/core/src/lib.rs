//! Ritmo's domain. It knows nothing of AWS, Lambda or HTTP: behaviour lives here, one folder per
//! bounded context (`<context>/<role>.rs`), behind small port traits that the adapters implement.

pub mod adapters;
pub mod calendar;
pub mod channels;
pub mod common;
pub mod delivery;
pub mod enrollments;
pub mod jobs;
pub mod links;
pub mod sequences;

pub use common::error::{DomainError, FieldError, PortError, PortErrorKind};
