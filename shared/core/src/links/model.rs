//! The link model: slugs, targets, rotators, hours, and the click records the redirect writes.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, Utc};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use crate::calendar::{Window, WindowSpec};
use crate::common::error::PortError;
use crate::common::phone::Phone;
use crate::common::tenant::TenantId;

/// Slugs the public redirect can never serve: they are (or may become) other routes.
pub const RESERVED_SLUGS: &[&str] = &["v1", "webhooks", "health", "_dev", "console"];

/// Most members one rotator may list.
pub const MAX_MEMBERS: usize = 50;

/// The public name of a link: `[a-z0-9][a-z0-9-]{1,62}`, unique across tenants.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slug(pub(in crate::links) Arc<str>);

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum WhenClosed {
    /// A page with this message and the opening hours.
    Page {
        /// At most 500 characters; line breaks are kept.
        #[serde(default)]
        #[cfg_attr(
            feature = "openapi",
            schema(
                max_length = 500,
                pattern = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$",
                example = "Voltamos às 9h"
            )
        )]
        message: String,
    },
    /// A redirect to this `https` URL.
    Redirect {
        #[cfg_attr(
            feature = "openapi",
            schema(
                max_length = 2048,
                pattern = "^https://[^/?#:\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*$"
            )
        )]
        url: String,
    },
    /// Rotate among the enabled members as if they were open. (A struct variant, so that an
    /// unknown field beside its `type` is refused like in the other kinds.)
    IgnoreHours {},
}

impl Default for WhenClosed {
    fn default() -> Self {
        Self::Page {
            message: String::new(),
        }
    }
}

/// The Open Graph preview shown to link-preview crawlers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Preview {
    #[cfg_attr(feature = "openapi", schema(required))]
    pub title: Option<String>,
    #[cfg_attr(feature = "openapi", schema(required))]
    pub description: Option<String>,
    #[cfg_attr(feature = "openapi", schema(required))]
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
        super::rotation::cycle(&weights)
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
                    match self.members.get_mut(member) {
                        Some(clicks) => *clicks += 1,
                        None => {
                            self.members.insert(member.clone(), 1);
                        }
                    }
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
/// Where the redirect is published, e.g. `https://go.example.com` (no trailing slash): the
/// base of links' public URLs and QR codes.
#[derive(Debug, Clone)]
pub struct PublicBase(Arc<str>);

impl PublicBase {
    pub fn new(url: &str) -> Self {
        Self(url.trim_end_matches('/').into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The public URL of a link.
    pub fn public_url(&self, slug: &Slug) -> String {
        format!("{}/{}", self.0, slug)
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
        for reserved in ["v1", "webhooks", "health", "console"] {
            assert_eq!(Slug::parse(reserved), Err(SlugError::Reserved));
        }
        assert_eq!(Slug::parse("_dev"), Err(SlugError::Syntax));
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
