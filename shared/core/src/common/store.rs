//! What the conditional writes of every store expect and how they fail.

use crate::common::error::PortError;

/// Why a conditional write did not happen.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The item changed since it was read (or exists when it must not): read again.
    #[error("the item changed concurrently")]
    Conflict,
    #[error(transparent)]
    Port(#[from] PortError),
}

/// What a write expects to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// No item (or, for enrollments, none that is active) is there.
    Absent,
    /// The item is at this version.
    Version(u64),
}

/// How often a conditional write is retried after a concurrent change before giving up.
pub const WRITE_RETRIES: usize = 16;
