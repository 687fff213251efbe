//! HTTP edge.
