//! Allowed-hours calendar (see SPEC §2 `window`).
