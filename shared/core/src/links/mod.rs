//! Sequential links (SPEC §2 "Links", §3): `whatsapp` links that open one attendant's chat, and
//! `rotator` links that hand each click to the next attendant in strict, weighted rotation.
//!
//! The model here is validated and typed once, when a link is saved; the redirect works on these
//! types as the store returns them and never re-parses configuration per click.

pub mod bots;
pub mod input;
pub mod qr;
pub mod rotation;
pub mod service;
pub mod sticky;

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::{Deserialize, Serialize};
use ulid::Ulid;
use utoipa::ToSchema;

use crate::calendar::{Window, WindowSpec};
use crate::error::PortError;
use crate::page::{Page, PageRequest};
use crate::tenant::TenantId;

pub use input::{LinkInput, LinkView, MemberInput, MemberView, PreviewInput};
pub use service::{ClickOutcome, ClickRequest, LinkStats, StickyUpdate};
pub use sticky::StickyKey;

/// Slugs the public redirect can never serve: they are (or may become) other routes.
pub const RESERVED_SLUGS: &[&str] = &["v1", "webhooks", "health", "_dev"];

/// Most members one rotator may list.
pub const MAX_MEMBERS: usize = 50;

/// The public name of a link: `[a-z0-9][a-z0-9-]{1,62}`, unique across tenants.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slug(Arc<str>);

impl Serialize for Slug {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SlugError {
    #[error("must be 2 to 63 characters of a-z, 0-9 and '-', starting with a letter or digit")]
    Syntax,
    #[error("is reserved")]
    Reserved,
}

impl Slug {
    /// Whether `raw` has a slug's shape (reserved words included).
    pub fn is_well_formed(raw: &str) -> bool {
        let bytes = raw.as_bytes();
        (2..=63).contains(&bytes.len())
            && matches!(bytes[0], b'a'..=b'z' | b'0'..=b'9')
            && bytes[1..]
                .iter()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'))
    }

    pub fn parse(raw: &str) -> Result<Self, SlugError> {
        if !Self::is_well_formed(raw) {
            return Err(SlugError::Syntax);
        }
        if RESERVED_SLUGS.contains(&raw) {
            return Err(SlugError::Reserved);
        }
        Ok(Self(raw.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Slug {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Slug({})", self.0)
    }
}

/// A phone number in E.164 form (`+5511987654321`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Phone(String);

impl Phone {
    /// Parses an international number (a leading `+` and the country code; spaces, dots, dashes
    /// and parentheses allowed) that the numbering plan says is valid, normalised to E.164.
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        if !raw.starts_with('+') || raw.len() > 32 {
            return None;
        }
        let number = phonenumber::parse(None, raw).ok()?;
        if !phonenumber::is_valid(&number) {
            return None;
        }
        Some(Self(
            number.format().mode(phonenumber::Mode::E164).to_string(),
        ))
    }

    /// A number this system normalised earlier (as a store returns it): `+` and 8 to 15 digits.
    /// The numbering plan is not consulted again, so reading a stored link stays cheap.
    pub fn from_e164(raw: &str) -> Option<Self> {
        let digits = raw.strip_prefix('+')?;
        ((8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| Self(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number without its `+`, as `wa.me` wants it.
    pub fn digits(&self) -> &str {
        self.0.trim_start_matches('+')
    }
}

/// Everything outside RFC 3986's unreserved characters is percent-encoded in `?text=`.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Where a `whatsapp` link sends a customer. The `wa.me` URL is built once, when the link is
/// made, not per click.
#[derive(Debug, Clone)]
pub struct WhatsAppTarget {
    pub phone: Phone,
    pub text: Option<String>,
    location: Arc<str>,
}

impl WhatsAppTarget {
    pub fn new(phone: Phone, text: Option<String>) -> Self {
        let location = match &text {
            Some(text) => format!(
                "https://wa.me/{}?text={}",
                phone.digits(),
                utf8_percent_encode(text, QUERY_VALUE)
            ),
            None => format!("https://wa.me/{}", phone.digits()),
        };
        Self {
            phone,
            text,
            location: location.into(),
        }
    }

    /// `https://wa.me/<digits>?text=<percent-encoded text>`.
    pub fn location(&self) -> &Arc<str> {
        &self.location
    }
}

/// Opening hours: a validated [`Window`], shared cheaply between copies of a link.
#[derive(Clone)]
pub struct Hours(Arc<Window>);

impl Hours {
    pub fn new(window: Window) -> Self {
        Self(Arc::new(window))
    }

    /// Open at `at`. Links have no contact, so the window's own zone applies.
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        self.0.is_allowed(at, None)
    }

    pub fn spec(&self) -> WindowSpec {
        self.0.to_spec()
    }

    pub fn window(&self) -> &Window {
        &self.0
    }
}

impl fmt::Debug for Hours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Hours(..)")
    }
}

/// What a click gets when nothing is open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum WhenClosed {
    /// A page with this message and the opening hours.
    Page {
        /// At most 500 characters; line breaks are kept.
        #[serde(default)]
        #[schema(max_length = 500, example = "Voltamos às 9h")]
        message: String,
    },
    /// A redirect to this `https` URL.
    Redirect {
        #[schema(format = "uri", max_length = 2048)]
        url: String,
    },
    /// Rotate among the enabled members as if they were open.
    IgnoreHours,
}

impl Default for WhenClosed {
    fn default() -> Self {
        Self::Page {
            message: String::new(),
        }
    }
}

/// The Open Graph preview shown to link-preview crawlers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Preview {
    #[schema(required)]
    pub title: Option<String>,
    #[schema(required)]
    pub description: Option<String>,
    #[schema(required)]
    pub image_url: Option<String>,
}

/// One attendant of a rotator: a `whatsapp` link of the same tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub link: Slug,
    pub weight: u32,
    pub enabled: bool,
}

/// Most recent subset cycle, for when some enabled members are closed.
type SubsetCache = Mutex<Option<(u64, Arc<[u16]>)>>;

/// A rotator's members and stickiness, with its rotation cycle over the enabled members
/// computed once.
#[derive(Debug, Clone)]
pub struct Rotator {
    pub members: Vec<Member>,
    pub sticky: bool,
    pub sticky_days: u32,
    enabled: u64,
    cycle: Arc<[u16]>,
    subset: Arc<SubsetCache>,
}

impl Rotator {
    /// `members` must hold at most [`MAX_MEMBERS`] entries.
    pub fn new(members: Vec<Member>, sticky: bool, sticky_days: u32) -> Self {
        assert!(members.len() <= MAX_MEMBERS, "too many rotator members");
        let enabled = members
            .iter()
            .enumerate()
            .filter(|(_, m)| m.enabled)
            .fold(0u64, |mask, (i, _)| mask | 1 << i);
        let cycle = Self::build_cycle(&members, enabled);
        Self {
            members,
            sticky,
            sticky_days,
            enabled,
            cycle,
            subset: Arc::default(),
        }
    }

    /// Bit `i` set for each enabled member `i`.
    pub fn enabled_mask(&self) -> u64 {
        self.enabled
    }

    /// The rotation cycle (indices into `members`) over the members in `mask`.
    pub fn cycle_for(&self, mask: u64) -> Arc<[u16]> {
        if mask == self.enabled {
            return self.cycle.clone();
        }
        let mut cached = self.subset.lock().unwrap_or_else(|e| e.into_inner());
        match &*cached {
            Some((m, cycle)) if *m == mask => cycle.clone(),
            _ => {
                let cycle = Self::build_cycle(&self.members, mask);
                *cached = Some((mask, cycle.clone()));
                cycle
            }
        }
    }

    fn build_cycle(members: &[Member], mask: u64) -> Arc<[u16]> {
        let chosen: Vec<usize> = (0..members.len())
            .filter(|i| mask & (1 << i) != 0)
            .collect();
        let weights: Vec<u32> = chosen.iter().map(|&i| members[i].weight).collect();
        rotation::cycle(&weights)
            .into_iter()
            .map(|k| chosen[usize::from(k)] as u16)
            .collect()
    }
}

#[derive(Debug, Clone)]
pub enum LinkKind {
    WhatsApp(WhatsAppTarget),
    Rotator(Rotator),
}

/// A link as stored.
#[derive(Debug, Clone)]
pub struct Link {
    pub id: Ulid,
    pub tenant: TenantId,
    pub slug: Slug,
    pub kind: LinkKind,
    pub hours: Option<Hours>,
    pub when_closed: WhenClosed,
    pub preview: Preview,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Link {
    pub fn rotator(&self) -> Option<&Rotator> {
        match &self.kind {
            LinkKind::Rotator(r) => Some(r),
            LinkKind::WhatsApp(_) => None,
        }
    }

    pub fn whatsapp(&self) -> Option<&WhatsAppTarget> {
        match &self.kind {
            LinkKind::WhatsApp(w) => Some(w),
            LinkKind::Rotator(_) => None,
        }
    }

    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        self.hours.as_ref().is_none_or(|h| h.is_open(at))
    }
}

/// A rotator member's current destination and hours, as the redirect needs them.
#[derive(Debug, Clone)]
pub struct MemberTarget {
    pub target: WhatsAppTarget,
    pub hours: Option<Hours>,
}

impl MemberTarget {
    pub fn of(link: &Link) -> Option<Self> {
        link.whatsapp().map(|target| Self {
            target: target.clone(),
            hours: link.hours.clone(),
        })
    }
}

/// What the redirect needs for one click, as one store request returns it.
#[derive(Debug, Clone)]
pub struct Routing {
    pub link: Arc<Link>,
    /// For a rotator, each member's target in `members` order; empty for a `whatsapp` link.
    pub members: Arc<[MemberTarget]>,
    /// The link's click counter: the new value after [`LinkStore::click`], the current one after
    /// [`LinkStore::peek`].
    pub counter: u64,
}

/// How a click counts in the statistics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClickKind {
    /// A person sent on to WhatsApp (through `member`, for a rotator).
    Human { member: Option<Slug> },
    /// A crawler, a preview fetcher or a `HEAD` request.
    Bot,
    /// A person who found everything closed (the `when_closed` page or redirect).
    Closed,
}

/// One click to count.
#[derive(Debug, Clone)]
pub struct ClickRecord {
    pub tenant: TenantId,
    pub link_id: Ulid,
    /// The UTC date of the click.
    pub day: NaiveDate,
    pub kind: ClickKind,
}

/// One link's clicks on one day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayClicks {
    pub human: u64,
    pub bot: u64,
    pub closed: u64,
    /// Human clicks per rotator member.
    pub members: BTreeMap<Slug, u64>,
}

impl DayClicks {
    pub fn add(&mut self, kind: &ClickKind) {
        match kind {
            ClickKind::Human { member } => {
                self.human += 1;
                if let Some(member) = member {
                    *self.members.entry(member.clone()).or_default() += 1;
                }
            }
            ClickKind::Bot => self.bot += 1,
            ClickKind::Closed => self.closed += 1,
        }
    }
}

/// Why a link write was refused.
#[derive(Debug, thiserror::Error)]
pub enum LinkWriteError {
    /// Some tenant already has a link with this slug.
    #[error("the slug is taken")]
    SlugTaken,
    /// No such link for this tenant.
    #[error("link not found")]
    NotFound,
    /// A rotator member is not a `whatsapp` link of the same tenant.
    #[error("member {0} is not a whatsapp link of this tenant")]
    MemberMissing(Slug),
    /// The link is a member of these rotators.
    #[error("the link is a member of {0:?}")]
    InUse(Vec<Slug>),
    #[error(transparent)]
    Port(#[from] PortError),
}

/// Storage of links, their click counters and click statistics.
///
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

    /// Redirect, one request: the link of that slug (any tenant) with its current counter.
    async fn peek(&self, slug: &Slug) -> Result<Option<Routing>, PortError>;

    /// Redirect, one request: atomically adds 1 to the link's counter and returns the link with
    /// the new value. Concurrent calls get distinct, consecutive values.
    async fn click(&self, slug: &Slug) -> Result<Option<Routing>, PortError>;

    /// Redirect, one request: counts one click.
    async fn record_click(&self, click: &ClickRecord) -> Result<(), PortError>;
}

/// Settings of the link routes that come from configuration.
#[derive(Debug, Clone)]
pub struct LinkSettings {
    /// Signs the sticky-assignment cookie.
    pub sticky_key: StickyKey,
    /// Where the redirect is served, e.g. `https://go.example.com` (no trailing slash).
    pub public_base_url: Arc<str>,
}

impl LinkSettings {
    pub fn new(sticky_key: StickyKey, public_base_url: &str) -> Self {
        Self {
            sticky_key,
            public_base_url: public_base_url.trim_end_matches('/').into(),
        }
    }

    /// Settings for a process that serves no link route: a random cookie key that signs nothing
    /// anyone will see.
    pub fn unused() -> Self {
        let mut key = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
        Self::new(StickyKey::new(&key), "https://links.invalid")
    }

    /// The public URL of a link.
    pub fn public_url(&self, slug: &Slug) -> String {
        format!("{}/{}", self.public_base_url, slug)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_follow_the_pattern_and_skip_reserved_words() {
        for ok in ["ab", "mystore", "0-a", "a1-b2", &"a".repeat(63)] {
            assert!(Slug::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "a",
            "-ab",
            "Ab",
            "a_b",
            "a.b",
            "a b",
            "ção",
            &"a".repeat(64),
            "",
        ] {
            assert_eq!(Slug::parse(bad), Err(SlugError::Syntax), "{bad}");
        }
        for reserved in ["v1", "webhooks", "health"] {
            assert_eq!(Slug::parse(reserved), Err(SlugError::Reserved));
        }
        assert_eq!(Slug::parse("_dev"), Err(SlugError::Syntax));
    }

    #[test]
    fn phones_are_normalised_to_e164() {
        assert_eq!(
            Phone::parse("+55 (11) 98765-4321").unwrap().as_str(),
            "+5511987654321"
        );
        assert_eq!(
            Phone::parse("+5511987654321").unwrap().digits(),
            "5511987654321"
        );
        assert!(Phone::parse("11987654321").is_none());
        assert!(Phone::parse("+55 11").is_none());
        assert!(Phone::parse("+999 1234").is_none());
        assert!(Phone::parse("hello").is_none());
    }

    #[test]
    fn whatsapp_locations_percent_encode_everything_outside_unreserved() {
        let phone = Phone::parse("+5511987654321").unwrap();
        let target =
            WhatsAppTarget::new(phone.clone(), Some("Olá & bem-vindo? #1 🎉\nok_~.".into()));
        assert_eq!(
            &**target.location(),
            "https://wa.me/5511987654321?text=Ol%C3%A1%20%26%20bem-vindo%3F%20%231%20%F0%9F%8E%89%0Aok_~."
        );
        assert_eq!(
            &**WhatsAppTarget::new(phone, None).location(),
            "https://wa.me/5511987654321"
        );
    }

    #[test]
    fn rotators_cache_cycles_per_member_subset() {
        let member = |slug: &str, weight, enabled| Member {
            link: Slug::parse(slug).unwrap(),
            weight,
            enabled,
        };
        let r = Rotator::new(
            vec![
                member("ana", 1, true),
                member("bia", 2, true),
                member("cai", 1, false),
                member("dan", 1, true),
            ],
            false,
            30,
        );
        assert_eq!(r.enabled_mask(), 0b1011);
        assert_eq!(&*r.cycle_for(0b1011), &[1, 0, 1, 3]);
        assert_eq!(&*r.cycle_for(0b1001), &[0, 3]);
        assert_eq!(&*r.cycle_for(0b1001), &[0, 3]);
        assert_eq!(&*r.cycle_for(0b0010), &[1]);
    }
}
