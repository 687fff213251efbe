//! Storage port of links: the admin operations and the redirect's hot path.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDate;
use ulid::Ulid;

use super::model::{ClickRecord, DayClicks, Link, LinkWriteError, Routing, Slug};
use crate::common::error::PortError;
use crate::common::page::{Page, PageRequest};
use crate::common::tenant::TenantId;

/// Slugs are one namespace across tenants. Invariants are the store's to keep atomically (a
/// DynamoDB adapter uses condition expressions and transactions): a slug is created once; a
/// rotator's members are `whatsapp` links of its tenant; a link that is a rotator's member is
/// not deleted.
///
/// **Cost of a click: at most two store requests.** A human click without a usable sticky cookie
/// is [`click`](Self::click) (DynamoDB: one `UpdateItem ADD counter :1` with
/// `ReturnValues ALL_NEW`) and then [`record_click`](Self::record_click) (one `UpdateItem ADD` on
/// the day's statistics item). A bot, a `HEAD` request or a customer with a sticky cookie is
/// [`peek`](Self::peek) (one `GetItem`) and then `record_click`. So `click` and `peek` return
/// everything the redirect needs — the link and its members' targets and hours — in one request:
/// a DynamoDB adapter keeps a copy of each member's target and hours in the rotator's item and
/// refreshes it in the same transaction that replaces the member.
#[async_trait]
pub trait LinkStore: Send + Sync + 'static {
    /// Creates the link: [`LinkWriteError::SlugTaken`] when the slug exists for any tenant,
    /// [`LinkWriteError::MemberMissing`] when a rotator member is not a `whatsapp` link of the
    /// tenant. The new link's counter is 0.
    async fn create_link(&self, link: &Link) -> Result<(), LinkWriteError>;

    /// Replaces the tenant's link of that slug (same kind), keeping its counter and statistics.
    /// Replacing a `whatsapp` link updates what every rotator using it routes to.
    async fn replace_link(&self, link: &Link) -> Result<(), LinkWriteError>;

    /// Deletes the tenant's link: [`LinkWriteError::InUse`] (naming every rotator, in slug
    /// order) when it is a rotator's member.
    async fn delete_link(&self, tenant: &TenantId, slug: &Slug) -> Result<(), LinkWriteError>;

    /// The tenant's link of that slug; another tenant's is `None`.
    async fn get_link(
        &self,
        tenant: &TenantId,
        slug: &Slug,
    ) -> Result<Option<Arc<Link>>, PortError>;

    /// The tenant's links in slug order.
    async fn list_links(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Arc<Link>>, PortError>;

    /// A link's clicks per UTC day, for the days in `from..=to` that have any, in date order.
    async fn link_clicks(
        &self,
        tenant: &TenantId,
        link_id: Ulid,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, DayClicks)>, PortError>;
}

/// The redirect's hot path, apart from the admin operations: what one click reads and writes.
/// **At most two requests per click** (see [`LinkStore`]).
#[async_trait]
pub trait LinkRouting: Send + Sync + 'static {
    /// Redirect, one request: the link of that slug (any tenant) with its current counter.
    async fn peek(&self, slug: &Slug) -> Result<Option<Routing>, PortError>;

    /// Redirect, one small write: atomically adds 1 to the link's rotation counter (kept apart
    /// from its configuration) and returns the new value; `None` when the store knows no such
    /// link. Concurrent calls get distinct, consecutive values. Called only for a link the
    /// redirect has read.
    async fn advance(&self, slug: &Slug) -> Result<Option<u64>, PortError>;

    /// Redirect, one request: counts one click.
    async fn record_click(&self, click: &ClickRecord) -> Result<(), PortError>;
}
