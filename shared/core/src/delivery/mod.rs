//! Getting steps out and hearing back: the sender a schedule fires, per-number pacing, and the
//! processing of Meta's webhook events.

pub mod inbound;
pub mod pacing;
pub mod ports;
pub mod reconcile;
pub mod sender;
pub mod statuses;
