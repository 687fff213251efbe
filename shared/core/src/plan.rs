//! Step due-time planning (SPEC §4).
