//! The end-to-end scenarios, one test binary: each module starts `ritmo-local` (in-process or as
//! its binary) on a random port and talks HTTP to it. With `RITMO_E2E_DYNAMODB_ENDPOINT` set, the
//! servers run on the DynamoDB store at that endpoint instead of the in-memory one.

mod links;
mod openapi;
mod sequences;
mod webhook_volume;
mod webhooks;
mod whatsapp;

// `pacing.rs` is its own binary: it counts requests per second at a stand-in Graph API, so it
// runs alone rather than beside fifty other servers on the same cores.
