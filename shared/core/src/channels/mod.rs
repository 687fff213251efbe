//! WhatsApp Business numbers (channels), their templates, and chatbots.

pub mod model;
pub mod service;
pub mod store;
