//! Links on the single table (`docs/data-model.md`, "Links").
//!
//! - The link item `L#<slug>` / `L` is global (slugs are unique across tenants) and holds the
//!   tenant, the configuration as one map (`link`), the click counter (`counter`), a write
//!   version (`version`), and for a rotator a copy of each member's number, text and hours
//!   (`targets`, keyed by member slug), so that one `UpdateItem ADD counter` with
//!   `ReturnValues ALL_NEW` (a click) or one `GetItem` (a peek) returns everything a click needs.
//!   A `whatsapp` link that rotators use lists them in the string set `used_by`.
//! - The entry `T#<tenant>` / `LINK#<slug>` repeats the configuration in the tenant's partition,
//!   so a tenant's links are listed by a consistent `Query`, in slug order.
//! - Clicks are counted per link and UTC day in `T#<tenant>#LINK#<id>` / `D#<yyyy-mm-dd>`.
//!
//! Every write of configuration is a transaction conditional on the versions it read: a rotator
//! and the member links it copied from, the member links and the `used_by` sets naming the
//! rotators. A transaction that loses a race is read again and retried.
//!
//! `records`: the item shapes and their mapping to domain links; `writes`: the reads, the
//! transaction and the writes each change is built from; `store`: the `LinkStore` and
//! `LinkRouting` ports over them.

mod records;
mod store;
mod writes;
