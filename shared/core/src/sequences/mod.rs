//! Sequences and their steps: the model, step planning, template parameters, and the admin
//! operations (edit, activate, pause, resume, archive).

pub mod model;
pub mod plan;
pub mod service;
pub mod store;
pub mod template;
pub mod transitions;
