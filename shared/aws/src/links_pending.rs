//! The link store of a deployment whose DynamoDB link items are not in this build: every call
//! fails with a port error that says so (the admin API answers 500 with the reason in the logs,
//! the redirect answers 503). Nothing is stored in memory and nothing is pretended.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDate;
use ritmo_core::links::{ClickRecord, DayClicks, Link, LinkStore, LinkWriteError, Routing, Slug};
use ritmo_core::page::{Page, PageRequest};
use ritmo_core::tenant::TenantId;
use ritmo_core::PortError;
use ulid::Ulid;

pub const NOT_IN_THIS_BUILD: &str = "links are not stored in DynamoDB by this build";

#[derive(Debug, Clone, Copy, Default)]
pub struct LinkStoreNotInThisBuild;

fn unavailable() -> PortError {
    PortError::new(NOT_IN_THIS_BUILD)
}

#[async_trait]
impl LinkStore for LinkStoreNotInThisBuild {
    async fn create_link(&self, _link: &Link) -> Result<(), LinkWriteError> {
        Err(LinkWriteError::Port(unavailable()))
    }

    async fn replace_link(&self, _link: &Link) -> Result<(), LinkWriteError> {
        Err(LinkWriteError::Port(unavailable()))
    }

    async fn delete_link(&self, _tenant: &TenantId, _slug: &Slug) -> Result<(), LinkWriteError> {
        Err(LinkWriteError::Port(unavailable()))
    }

    async fn get_link(
        &self,
        _tenant: &TenantId,
        _slug: &Slug,
    ) -> Result<Option<Arc<Link>>, PortError> {
        Err(unavailable())
    }

    async fn list_links(
        &self,
        _tenant: &TenantId,
        _page: &PageRequest,
    ) -> Result<Page<Arc<Link>>, PortError> {
        Err(unavailable())
    }

    async fn link_clicks(
        &self,
        _tenant: &TenantId,
        _link_id: Ulid,
        _from: NaiveDate,
        _to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, DayClicks)>, PortError> {
        Err(unavailable())
    }

    async fn peek(&self, _slug: &Slug) -> Result<Option<Routing>, PortError> {
        Err(unavailable())
    }

    async fn click(&self, _slug: &Slug) -> Result<Option<Routing>, PortError> {
        Err(unavailable())
    }

    async fn record_click(&self, _click: &ClickRecord) -> Result<(), PortError> {
        Err(unavailable())
    }
}
