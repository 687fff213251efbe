//! Ritmo's domain. It knows nothing of AWS, Lambda or HTTP: behaviour lives here, behind small
//! port traits that the adapters implement.

pub mod app;
pub mod calendar;
pub mod channel;
pub mod channels;
pub mod clock;
pub mod enrolling;
pub mod enrollment;
pub mod error;
pub mod ids;
pub mod links;
pub mod local;
pub mod memory;
pub mod memory_links;
pub mod pacing;
pub mod page;
pub mod plan;
pub mod ports;
pub mod pricing;
pub mod secret;
pub mod sender;
pub mod sequence;
pub mod sequences;
pub mod store;
pub mod template;
pub mod tenant;
pub mod validate;
pub mod webhooks;

pub use app::Ritmo;
pub use error::{DomainError, FieldError, PortError};
