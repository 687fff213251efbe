//! Contacts in sequences: the enrollment state machine, enrolling and removing, the
//! transitions every other context goes through, and statistics (from counters each
//! enrollment write keeps).

pub mod counters;
pub mod csv_rows;
pub mod enroll;
pub mod model;
pub mod pricing;
pub mod stats;
pub mod store;
pub mod transitions;
pub mod views;
