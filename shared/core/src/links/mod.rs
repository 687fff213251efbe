//! Sequential links (SPEC §2 "Links", §3): `whatsapp` links that open one attendant's chat, and
//! `rotator` links that hand each click to the next attendant in strict, weighted rotation.
//!
//! The model here is validated and typed once, when a link is saved; the redirect works on these
//! types as the store returns them and never re-parses configuration per click.

pub mod admin;
pub mod bots;
pub mod input;
pub mod model;
pub mod qr;
pub mod redirect;
pub mod rotation;
#[cfg(feature = "openapi")]
pub mod schema;
pub mod sticky;
pub mod store;

pub use admin::LinkStats;
pub use input::{LinkInput, LinkView, MemberInput, MemberView, PreviewInput};
pub use model::*;
pub use redirect::{ClickOutcome, ClickRequest, StickyUpdate};
#[cfg(feature = "openapi")]
pub use schema::{LinkReplacement, NewLink};
pub use sticky::StickyKey;
pub use store::{LinkRouting, LinkStore};
