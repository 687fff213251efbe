//! What every context uses: tenants and roles, errors, pages, validation, secrets, the clock and
//! id ports, phone numbers, the backoff of a retried operation, and what conditional writes expect.

pub mod cache;
pub mod clock;
pub mod error;
pub mod ids;
pub mod net;
pub mod page;
pub mod phone;
pub mod retry;
pub mod secret;
pub mod store;
pub mod tenant;
pub mod validate;
