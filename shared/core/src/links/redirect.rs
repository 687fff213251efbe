//! The public redirect's decision: `decide()` routes one click (pure), and `Redirect` around it
//! only reads the routing, counts the click and answers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, TimeDelta, Utc};

use super::rotation::position;
use super::store::LinkRouting;
use super::{bots, ClickKind, ClickRecord, Link, LinkKind, Routing, Slug, StickyKey, WhenClosed};
use crate::common::clock::Clock;
use crate::common::error::PortError;

/// One request to the public redirect, as the HTTP layer read it.
#[derive(Debug, Clone, Copy)]
pub struct ClickRequest<'a> {
    pub slug: &'a str,
    /// A `HEAD` request: never a person following the link.
    pub head: bool,
    pub user_agent: Option<&'a str>,
    /// The value of the sticky cookie, when the request carries one.
    pub sticky_cookie: Option<&'a str>,
}

/// What to do with the sticky cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StickyUpdate {
    /// Leave it as it is (or absent).
    Keep,
    /// Set it to `value` for `max_age_seconds`.
    Set { value: String, max_age_seconds: u64 },
    /// Remove it: the link no longer assigns customers.
    Clear,
}

/// What the redirect answers.
#[derive(Debug, Clone)]
pub enum ClickOutcome {
    /// `302` to `location`.
    Redirect {
        location: Arc<str>,
        sticky: StickyUpdate,
    },
    /// The Open Graph preview page (bots and `HEAD`).
    Preview { link: Arc<Link> },
    /// The closed page: `message` (may be empty) and the link's hours.
    Closed { link: Arc<Link>, message: String },
    /// No such link.
    NotFound,
}

/// Where one human click goes.
#[derive(Debug, Clone, PartialEq)]
enum Decision {
    Go {
        location: Arc<str>,
        /// The rotator member's index.
        member: Option<usize>,
        sticky: StickyAction,
    },
    ClosedPage(String),
    ClosedRedirect(Arc<str>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StickyAction {
    None,
    Keep,
    Assign,
    Clear,
}

fn when_closed(policy: &WhenClosed) -> Decision {
    match policy {
        WhenClosed::Page { message } => Decision::ClosedPage(message.clone()),
        WhenClosed::Redirect { url } => Decision::ClosedRedirect(url.as_str().into()),
        // Nothing enabled to ignore the hours for.
        WhenClosed::IgnoreHours {} => Decision::ClosedPage(String::new()),
    }
}

/// Routes one human click at `routing.counter`'s position of the rotation. `remembered` is the
/// member a valid sticky cookie names.
fn decide(routing: &Routing, now: DateTime<Utc>, remembered: Option<&str>) -> Decision {
    let link = &routing.link;
    let ignore_hours = matches!(link.when_closed, WhenClosed::IgnoreHours {});
    let stale_cookie = if remembered.is_some() {
        StickyAction::Clear
    } else {
        StickyAction::None
    };
    let rotator = match &link.kind {
        LinkKind::WhatsApp(target) => {
            return if ignore_hours || link.is_open(now) {
                Decision::Go {
                    location: target.location().clone(),
                    member: None,
                    sticky: stale_cookie,
                }
            } else {
                when_closed(&link.when_closed)
            };
        }
        LinkKind::Rotator(rotator) => rotator,
    };
    let available = |i: usize| routing.members.get(i);
    let mut eligible = 0u64;
    if link.is_open(now) {
        for (i, member) in rotator.members.iter().enumerate() {
            let open = member.enabled
                && available(i).is_some_and(|t| t.hours.as_ref().is_none_or(|h| h.is_open(now)));
            if open {
                eligible |= 1 << i;
            }
        }
    }
    if eligible == 0 && ignore_hours {
        eligible = rotator.enabled_mask()
            & (0..rotator.members.len())
                .filter(|&i| available(i).is_some())
                .fold(0, |mask, i| mask | 1 << i);
    }
    if eligible == 0 {
        return when_closed(&link.when_closed);
    }
    if let Some(name) = remembered {
        if !rotator.sticky {
            // Assignments are off: route as usual and drop the cookie.
        } else if let Some(i) = rotator
            .members
            .iter()
            .position(|m| m.link.as_str() == name)
            .filter(|&i| eligible & (1 << i) != 0)
        {
            return Decision::Go {
                location: routing.members[i].target.location().clone(),
                member: Some(i),
                sticky: StickyAction::Keep,
            };
        }
    }
    let cycle = rotator.cycle_for(eligible);
    let i = usize::from(cycle[position(routing.counter, cycle.len())]);
    Decision::Go {
        location: routing.members[i].target.location().clone(),
        member: Some(i),
        sticky: if rotator.sticky {
            StickyAction::Assign
        } else {
            stale_cookie
        },
    }
}

/// How long this instance uses a link's configuration (or its absence) as read: an edit, a new
/// link or a deletion shows within this bound. The rotation counter is never cached.
pub const CONFIG_TTL: TimeDelta = TimeDelta::seconds(5);
/// Links remembered at most; past that the cache starts over.
const CACHE_ENTRIES: usize = 10_000;

/// A link's configuration (or `None`: no such link) as this instance last read it.
#[derive(Clone)]
struct Cached {
    routing: Option<Routing>,
    read_at: DateTime<Utc>,
}

/// The links' configurations as this instance last read them, for at most [`CONFIG_TTL`].
/// The redirect reads through it; link changes made in the same process clear it at once.
#[derive(Default)]
pub struct LinkCache {
    entries: Mutex<HashMap<Slug, Cached>>,
}

impl LinkCache {
    pub fn new() -> Self {
        Self::default()
    }

    fn get(&self, slug: &Slug, now: DateTime<Utc>) -> Option<Option<Routing>> {
        let entries = self.entries.lock().expect("link cache");
        let cached = entries.get(slug)?;
        (cached.read_at <= now && now - cached.read_at < CONFIG_TTL).then(|| cached.routing.clone())
    }

    fn put(&self, slug: &Slug, routing: Option<Routing>, now: DateTime<Utc>) {
        let mut entries = self.entries.lock().expect("link cache");
        if entries.len() >= CACHE_ENTRIES {
            entries.clear();
        }
        entries.insert(
            slug.clone(),
            Cached {
                routing,
                read_at: now,
            },
        );
    }

    fn forget(&self, slug: &Slug) {
        self.entries.lock().expect("link cache").remove(slug);
    }

    /// Drops everything: a link changed (a member's change reaches the rotators using it).
    pub fn clear(&self) {
        self.entries.lock().expect("link cache").clear();
    }
}

/// The public redirect: one click in, one answer out.
#[derive(Clone)]
pub struct Redirect {
    clock: Arc<dyn Clock>,
    links: Arc<dyn LinkRouting>,
    /// Signs the sticky-assignment cookie.
    sticky_key: StickyKey,
    configs: Arc<LinkCache>,
}

impl Redirect {
    pub fn new(
        clock: Arc<dyn Clock>,
        links: Arc<dyn LinkRouting>,
        sticky_key: StickyKey,
        configs: Arc<LinkCache>,
    ) -> Self {
        Self {
            clock,
            links,
            sticky_key,
            configs,
        }
    }

    /// The link's configuration: as read within [`CONFIG_TTL`], or read now (one request).
    async fn config(&self, slug: &Slug, now: DateTime<Utc>) -> Result<Option<Routing>, PortError> {
        if let Some(cached) = self.configs.get(slug, now) {
            return Ok(cached);
        }
        let routing = self.links.peek(slug).await?;
        self.configs.put(slug, routing.clone(), now);
        Ok(routing)
    }

    /// `GET|HEAD /{slug}`. The configuration comes from [`Redirect::config`]; then a human click
    /// on a rotator advances the counter (one small write) and every click is counted (one
    /// write): two requests per human click, one per bot, none written for an unknown slug.
    ///
    /// Bots and `HEAD` requests read the link without advancing its counter and get the preview.
    /// A person with a valid sticky cookie also reads without advancing; when the remembered
    /// member is open they go there again, and otherwise the rotation's current position picks
    /// among the open members and the cookie is replaced. Every other person advances the counter
    /// by one and goes to the member at that position of the rotation.
    pub async fn resolve_click(
        &self,
        request: ClickRequest<'_>,
    ) -> Result<ClickOutcome, PortError> {
        let sticky_key = &self.sticky_key;
        let Ok(slug) = Slug::parse(request.slug) else {
            return Ok(ClickOutcome::NotFound);
        };
        let now = self.clock.now();
        let Some(mut routing) = self.config(&slug, now).await? else {
            return Ok(ClickOutcome::NotFound);
        };
        if request.head || bots::is_bot(request.user_agent) {
            self.count_click(&routing.link, now, ClickKind::Bot).await;
            tracing::debug!(slug = %slug, outcome = "preview", "link click");
            return Ok(ClickOutcome::Preview { link: routing.link });
        }
        let remembered = request
            .sticky_cookie
            .and_then(|value| sticky_key.verify(&slug, value, now));
        if remembered.is_none() && routing.link.rotator().is_some() {
            match self.links.advance(&slug).await? {
                Some(counter) => routing.counter = counter,
                None => {
                    self.configs.forget(&slug);
                    return Ok(ClickOutcome::NotFound);
                }
            }
        }
        let link = routing.link.clone();
        let outcome = match decide(&routing, now, remembered) {
            Decision::Go {
                location,
                member,
                sticky,
            } => {
                let member = member.and_then(|i| link.rotator().map(|r| &r.members[i].link));
                self.count_click(
                    &link,
                    now,
                    ClickKind::Human {
                        member: member.cloned(),
                    },
                )
                .await;
                let sticky = match (sticky, member, link.rotator()) {
                    (StickyAction::Assign, Some(member), Some(rotator)) => {
                        let days = u64::from(rotator.sticky_days);
                        StickyUpdate::Set {
                            value: sticky_key.sign(
                                &slug,
                                member,
                                now + Duration::days(days as i64),
                            ),
                            max_age_seconds: days * 86_400,
                        }
                    }
                    (StickyAction::Clear, _, _) => StickyUpdate::Clear,
                    _ => StickyUpdate::Keep,
                };
                tracing::debug!(slug = %slug, counter = routing.counter, member = member.map(Slug::as_str), "link click");
                ClickOutcome::Redirect { location, sticky }
            }
            Decision::ClosedPage(message) => {
                self.count_click(&link, now, ClickKind::Closed).await;
                tracing::debug!(slug = %slug, outcome = "closed", "link click");
                ClickOutcome::Closed { link, message }
            }
            Decision::ClosedRedirect(location) => {
                self.count_click(&link, now, ClickKind::Closed).await;
                tracing::debug!(slug = %slug, outcome = "closed_redirect", "link click");
                ClickOutcome::Redirect {
                    location,
                    sticky: StickyUpdate::Keep,
                }
            }
        };
        Ok(outcome)
    }

    /// Counts a click. A failure is logged, never shown to the customer.
    async fn count_click(&self, link: &Link, now: DateTime<Utc>, kind: ClickKind) {
        let record = ClickRecord {
            tenant: link.tenant.clone(),
            link_id: link.id,
            day: now.date_naive(),
            kind,
        };
        if let Err(error) = self.links.record_click(&record).await {
            tracing::warn!(slug = %link.slug, error = %error, cause = ?std::error::Error::source(&error), "click not counted");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::Window;
    use crate::common::phone::Phone;
    use crate::common::tenant::TenantId;
    use crate::links::{Hours, Member, MemberTarget, Preview, Rotator, WhatsAppTarget};
    use chrono::TimeZone;
    use ulid::Ulid;

    fn at(h: u32) -> DateTime<Utc> {
        // 2030-01-07 is a Monday.
        Utc.with_ymd_and_hms(2030, 1, 7, h, 0, 0).unwrap()
    }

    fn hours(json: &str) -> Hours {
        Hours::new(Window::from_spec(&serde_json::from_str(json).unwrap()).unwrap())
    }

    fn morning() -> Option<Hours> {
        Some(hours(
            r#"{"time_zone": "UTC", "days": {"mon": [["09:00", "12:00"]]}}"#,
        ))
    }

    fn target(n: u32) -> WhatsAppTarget {
        WhatsAppTarget::new(Phone::parse(&format!("+55119876543{n:02}")).unwrap(), None)
    }

    struct Setup {
        members: Vec<(&'static str, u32, bool, Option<Hours>)>,
        sticky: bool,
        hours: Option<Hours>,
        when_closed: WhenClosed,
    }

    fn routing(setup: Setup, counter: u64) -> Routing {
        let members: Vec<Member> = setup
            .members
            .iter()
            .map(|(slug, weight, enabled, _)| Member {
                link: Slug::parse(slug).unwrap(),
                weight: *weight,
                enabled: *enabled,
            })
            .collect();
        let targets: Vec<MemberTarget> = setup
            .members
            .iter()
            .enumerate()
            .map(|(i, (_, _, _, hours))| MemberTarget {
                target: target(i as u32),
                hours: hours.clone(),
            })
            .collect();
        Routing {
            link: Arc::new(Link {
                id: Ulid::nil(),
                tenant: TenantId::parse("t").unwrap(),
                slug: Slug::parse("mystore").unwrap(),
                kind: LinkKind::Rotator(Rotator::new(members, setup.sticky, 30)),
                hours: setup.hours,
                when_closed: setup.when_closed,
                preview: Preview::default(),
                created_at: at(0),
                updated_at: at(0),
            }),
            members: targets.into(),
            counter,
        }
    }

    fn member_of(decision: &Decision) -> Option<usize> {
        match decision {
            Decision::Go { member, .. } => *member,
            _ => None,
        }
    }

    fn three(hours_b: Option<Hours>, when_closed: WhenClosed, sticky: bool) -> Setup {
        Setup {
            members: vec![
                ("ana", 1, true, None),
                ("bia", 1, true, hours_b),
                ("cai", 1, true, None),
            ],
            sticky,
            hours: None,
            when_closed,
        }
    }

    #[test]
    fn closed_members_are_skipped() {
        let picks: Vec<_> = (1..=4)
            .map(|n| {
                member_of(&decide(
                    &routing(three(morning(), WhenClosed::default(), false), n),
                    at(13),
                    None,
                ))
            })
            .collect();
        assert_eq!(picks, [Some(0), Some(2), Some(0), Some(2)]);
        let open: Vec<_> = (1..=3)
            .map(|n| {
                member_of(&decide(
                    &routing(three(morning(), WhenClosed::default(), false), n),
                    at(10),
                    None,
                ))
            })
            .collect();
        assert_eq!(open, [Some(0), Some(1), Some(2)]);
    }

    #[test]
    fn a_closed_rotator_follows_when_closed() {
        let closed_rotator = |when_closed| Setup {
            hours: morning(),
            ..three(None, when_closed, false)
        };
        assert_eq!(
            decide(
                &routing(
                    closed_rotator(WhenClosed::Page {
                        message: "Voltamos às 9h".into()
                    }),
                    1
                ),
                at(13),
                None
            ),
            Decision::ClosedPage("Voltamos às 9h".into())
        );
        assert_eq!(
            decide(
                &routing(
                    closed_rotator(WhenClosed::Redirect {
                        url: "https://example.com/closed".into()
                    }),
                    1
                ),
                at(13),
                None
            ),
            Decision::ClosedRedirect("https://example.com/closed".into())
        );
        let ignoring = decide(
            &routing(closed_rotator(WhenClosed::IgnoreHours {}), 2),
            at(13),
            None,
        );
        assert_eq!(member_of(&ignoring), Some(1));
    }

    #[test]
    fn a_remembered_member_is_kept_while_open_and_replaced_when_closed() {
        let setup = || three(morning(), WhenClosed::default(), true);
        let kept = decide(&routing(setup(), 7), at(10), Some("bia"));
        assert!(matches!(
            kept,
            Decision::Go {
                member: Some(1),
                sticky: StickyAction::Keep,
                ..
            }
        ));
        let replaced = decide(&routing(setup(), 7), at(13), Some("bia"));
        assert!(matches!(
            replaced,
            Decision::Go {
                member: Some(0) | Some(2),
                sticky: StickyAction::Assign,
                ..
            }
        ));
        let gone = decide(&routing(setup(), 7), at(10), Some("zed"));
        assert!(matches!(
            gone,
            Decision::Go {
                sticky: StickyAction::Assign,
                ..
            }
        ));
        let not_sticky = decide(
            &routing(three(None, WhenClosed::default(), false), 1),
            at(10),
            Some("bia"),
        );
        assert!(matches!(
            not_sticky,
            Decision::Go {
                member: Some(0),
                sticky: StickyAction::Clear,
                ..
            }
        ));
    }

    #[test]
    fn disabled_members_never_get_clicks() {
        let setup = || Setup {
            members: vec![("ana", 1, false, None), ("bia", 2, true, None)],
            sticky: false,
            hours: None,
            when_closed: WhenClosed::IgnoreHours {},
        };
        for n in 1..=5 {
            assert_eq!(
                member_of(&decide(&routing(setup(), n), at(10), None)),
                Some(1)
            );
        }
    }
}
