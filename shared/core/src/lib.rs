//! Ritmo's domain. It knows nothing of AWS, Lambda or HTTP: behaviour lives here, behind small
//! port traits that the adapters implement.

pub mod calendar;
pub mod clock;
pub mod error;
pub mod ids;
pub mod plan;

pub use error::{DomainError, FieldError, PortError};
