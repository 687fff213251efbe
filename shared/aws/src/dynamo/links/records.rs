//! The link items as stored, and their mapping to and from domain links.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use ritmo_core::calendar::Window;
use ritmo_core::common::phone::Phone;
use ritmo_core::common::tenant::TenantId;
use ritmo_core::links::input::LinkType;
use ritmo_core::links::{
    Hours, Link, LinkKind, Member, MemberTarget, Preview, Rotator, Routing, Slug, WhatsAppTarget,
    WhenClosed,
};
use ritmo_core::PortError;
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use crate::dynamo::{from_item, key, keys, Item};

/// The configuration map.
pub(super) const LINK: &str = "link";
/// A rotator's copies of its members' targets, by member slug.
pub(super) const TARGETS: &str = "targets";
pub(super) const COUNTER: &str = "counter";
pub(super) const VERSION: &str = "version";
/// The rotators (slugs) that use a `whatsapp` link.
pub(super) const USED_BY: &str = "used_by";
pub(super) const TENANT: &str = "tenant";
/// A day item's per-member human clicks: one attribute `M#<member slug>` each.
pub(super) const MEMBER_CLICKS_PREFIX: &str = "M#";

/// A link's configuration as stored (the `link` map and the tenant's listing entry).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct LinkRecord {
    pub(super) id: Ulid,
    pub(super) tenant: TenantId,
    pub(super) slug: String,
    #[serde(rename = "type")]
    pub(super) kind: LinkType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) members: Option<Vec<MemberRecord>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) sticky: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) sticky_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) hours: Option<Window>,
    pub(super) when_closed: WhenClosed,
    #[serde(default)]
    pub(super) preview: PreviewRecord,
    pub(super) created_at: DateTime<Utc>,
    pub(super) updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct MemberRecord {
    pub(super) link: String,
    pub(super) weight: u32,
    pub(super) enabled: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct PreviewRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) image_url: Option<String>,
}

/// A member's destination as copied into a rotator.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct TargetRecord {
    pub(super) phone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) hours: Option<Window>,
}

/// The link item as read.
#[derive(Deserialize)]
pub(super) struct LinkItem {
    pub(super) link: LinkRecord,
    #[serde(default)]
    pub(super) targets: HashMap<String, TargetRecord>,
    #[serde(default)]
    pub(super) counter: u64,
    #[serde(default)]
    pub(super) version: u64,
}

/// The tenant's listing entry as read.
#[derive(Deserialize)]
pub(super) struct EntryItem {
    pub(super) link: LinkRecord,
}

/// A link item with the `used_by` set (a string set, read apart from the rest).
pub(super) struct Stored {
    pub(super) item: LinkItem,
    pub(super) used_by: Vec<Slug>,
}

impl Stored {
    pub(super) fn from_item(mut item: Item) -> Result<Self, PortError> {
        let mut used_by = match item.remove(USED_BY) {
            Some(AttributeValue::Ss(slugs)) => slugs
                .iter()
                .map(|raw| stored_slug(raw))
                .collect::<Result<Vec<_>, _>>()?,
            _ => Vec::new(),
        };
        used_by.sort();
        Ok(Self {
            item: from_item(item)?,
            used_by,
        })
    }

    pub(super) fn record(&self) -> &LinkRecord {
        &self.item.link
    }

    pub(super) fn is_whatsapp_of(&self, tenant: &TenantId) -> bool {
        &self.record().tenant == tenant && self.record().kind == LinkType::Whatsapp
    }

    /// What a rotator copies of this `whatsapp` link.
    pub(super) fn target(&self) -> Option<TargetRecord> {
        let record = self.record();
        Some(TargetRecord {
            phone: record.phone.clone()?,
            text: record.text.clone(),
            hours: record.hours.clone(),
        })
    }

    pub(super) fn member_slugs(&self) -> Vec<String> {
        self.record()
            .members
            .iter()
            .flatten()
            .map(|m| m.link.clone())
            .collect()
    }
}

/// A member link as a rotator's write read it.
pub(super) struct Seen {
    pub(super) slug: Slug,
    pub(super) id: Ulid,
    pub(super) version: u64,
}

pub(super) fn corrupt(what: &str, slug: &str) -> PortError {
    PortError::new(format!("stored link {slug}: {what}"))
}

pub(super) fn stored_slug(raw: &str) -> Result<Slug, PortError> {
    Slug::parse(raw).map_err(|_| corrupt("not a valid slug", raw))
}

pub(super) fn stored_phone(raw: &str, slug: &str) -> Result<Phone, PortError> {
    Phone::from_e164(raw).ok_or_else(|| corrupt("not an E.164 phone number", slug))
}

pub(super) fn record_of(link: &Link) -> LinkRecord {
    let (kind, phone, text, members, sticky, sticky_days) = match &link.kind {
        LinkKind::WhatsApp(target) => (
            LinkType::Whatsapp,
            Some(target.phone.as_str().to_string()),
            target.text.clone(),
            None,
            None,
            None,
        ),
        LinkKind::Rotator(rotator) => (
            LinkType::Rotator,
            None,
            None,
            Some(
                rotator
                    .members
                    .iter()
                    .map(|m| MemberRecord {
                        link: m.link.to_string(),
                        weight: m.weight,
                        enabled: m.enabled,
                    })
                    .collect(),
            ),
            Some(rotator.sticky),
            Some(rotator.sticky_days),
        ),
    };
    LinkRecord {
        id: link.id,
        tenant: link.tenant.clone(),
        slug: link.slug.to_string(),
        kind,
        phone,
        text,
        members,
        sticky,
        sticky_days,
        hours: link.hours.as_ref().map(|h| h.window().clone()),
        when_closed: link.when_closed.clone(),
        preview: PreviewRecord {
            title: link.preview.title.clone(),
            description: link.preview.description.clone(),
            image_url: link.preview.image_url.clone(),
        },
        created_at: link.created_at,
        updated_at: link.updated_at,
    }
}

pub(super) fn link_of(record: LinkRecord) -> Result<Link, PortError> {
    let slug = stored_slug(&record.slug)?;
    let kind = match record.kind {
        LinkType::Whatsapp => {
            let phone = record
                .phone
                .as_deref()
                .ok_or_else(|| corrupt("a whatsapp link without a phone", &record.slug))?;
            LinkKind::WhatsApp(WhatsAppTarget::new(
                stored_phone(phone, &record.slug)?,
                record.text,
            ))
        }
        LinkType::Rotator => {
            let members = record
                .members
                .unwrap_or_default()
                .into_iter()
                .map(|m| {
                    Ok(Member {
                        link: stored_slug(&m.link)?,
                        weight: m.weight,
                        enabled: m.enabled,
                    })
                })
                .collect::<Result<Vec<_>, PortError>>()?;
            if members.len() > ritmo_core::links::MAX_MEMBERS {
                return Err(corrupt("too many members", &record.slug));
            }
            LinkKind::Rotator(Rotator::new(
                members,
                record.sticky.unwrap_or(false),
                record.sticky_days.unwrap_or(1),
            ))
        }
    };
    Ok(Link {
        id: record.id,
        tenant: record.tenant,
        slug,
        kind,
        hours: record.hours.map(Hours::new),
        when_closed: record.when_closed,
        preview: Preview {
            title: record.preview.title,
            description: record.preview.description,
            image_url: record.preview.image_url,
        },
        created_at: record.created_at,
        updated_at: record.updated_at,
    })
}

/// The redirect's view of a link item: the link, its members' copied targets in member order,
/// and the counter.
pub(super) fn routing_of(item: LinkItem) -> Result<Routing, PortError> {
    let LinkItem {
        link,
        mut targets,
        counter,
        ..
    } = item;
    let link = link_of(link)?;
    let members = match &link.kind {
        LinkKind::WhatsApp(_) => Vec::new(),
        LinkKind::Rotator(rotator) => rotator
            .members
            .iter()
            .map(|member| {
                let target = targets
                    .remove(member.link.as_str())
                    .ok_or_else(|| corrupt("a member without its copy", link.slug.as_str()))?;
                Ok(MemberTarget {
                    target: WhatsAppTarget::new(
                        stored_phone(&target.phone, member.link.as_str())?,
                        target.text,
                    ),
                    hours: target.hours.map(Hours::new),
                })
            })
            .collect::<Result<Vec<_>, PortError>>()?,
    };
    Ok(Routing {
        link: Arc::new(link),
        members: members.into(),
        counter,
    })
}

pub(super) fn number(n: u64) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

pub(super) fn link_key(slug: &str) -> Item {
    key(keys::link(slug), keys::LINK_SK.into())
}

pub(super) fn counter_key(slug: &str) -> Item {
    key(keys::link(slug), keys::COUNTER_SK.into())
}

pub(super) fn entry_key(tenant: &TenantId, slug: &str) -> Item {
    key(keys::tenant(tenant), keys::link_entry(slug))
}
