//! Link operations: the admin API's and the redirect's.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::input::{self, Draft, LinkInput, LinkView};
use super::rotation::position;
use super::{
    bots, ClickKind, ClickRecord, Link, LinkKind, LinkWriteError, Routing, Slug, StickyKey,
    WhenClosed,
};
use crate::app::Ritmo;
use crate::error::{DomainError, FieldError, PortError};
use crate::page::{Page, PageRequest};
use crate::tenant::TenantId;

/// Longest span `GET /v1/links/{slug}/stats` covers.
pub const MAX_STATS_DAYS: i64 = 366;
/// Span of the statistics when no `from` is given.
pub const DEFAULT_STATS_DAYS: i64 = 30;

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

/// Clicks by kind: people sent on, bots and previews, and clicks while everything was closed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ClickTotals {
    pub human: u64,
    pub bot: u64,
    pub closed: u64,
}

/// Human clicks a rotator sent to one member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct MemberClicks {
    #[schema(value_type = String)]
    pub link: Slug,
    pub clicks: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DayRow {
    pub date: NaiveDate,
    pub human: u64,
    pub bot: u64,
}

/// `GET /v1/links/{slug}/stats`: clicks in `from..=to` (UTC dates).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({
    "from": "2026-11-01", "to": "2026-11-02", "clicks": {"human": 40, "bot": 3, "closed": 1},
    "members": [{"link": "ana", "clicks": 20}, {"link": "bia", "clicks": 20}],
    "by_day": [{"date": "2026-11-01", "human": 25, "bot": 2}, {"date": "2026-11-02", "human": 15, "bot": 1}]
}))]
pub struct LinkStats {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub clicks: ClickTotals,
    /// A rotator's current members in list order, then any former member that had clicks.
    pub members: Vec<MemberClicks>,
    /// Every day of the span, oldest first.
    pub by_day: Vec<DayRow>,
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
        WhenClosed::IgnoreHours => Decision::ClosedPage(String::new()),
    }
}

/// Routes one human click at `routing.counter`'s position of the rotation. `remembered` is the
/// member a valid sticky cookie names.
fn decide(routing: &Routing, now: DateTime<Utc>, remembered: Option<&str>) -> Decision {
    let link = &routing.link;
    let ignore_hours = link.when_closed == WhenClosed::IgnoreHours;
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

impl Ritmo {
    /// `GET|HEAD /{slug}`. Costs at most two store requests (see [`super::LinkStore`]).
    ///
    /// Bots and `HEAD` requests read the link without advancing its counter and get the preview.
    /// A person with a valid sticky cookie also reads without advancing; when the remembered
    /// member is open they go there again, and otherwise the rotation's current position picks
    /// among the open members and the cookie is replaced. Every other person advances the counter
    /// by one and goes to the member at that position of the rotation.
    pub async fn resolve_click(
        &self,
        request: ClickRequest<'_>,
        sticky_key: &StickyKey,
    ) -> Result<ClickOutcome, PortError> {
        let Ok(slug) = Slug::parse(request.slug) else {
            return Ok(ClickOutcome::NotFound);
        };
        let now = self.clock.now();
        if request.head || bots::is_bot(request.user_agent) {
            let Some(routing) = self.links.peek(&slug).await? else {
                return Ok(ClickOutcome::NotFound);
            };
            self.count_click(&routing.link, now, ClickKind::Bot).await;
            tracing::debug!(slug = %slug, outcome = "preview", "link click");
            return Ok(ClickOutcome::Preview { link: routing.link });
        }
        let remembered = request
            .sticky_cookie
            .and_then(|value| sticky_key.verify(&slug, value, now));
        let routing = if remembered.is_some() {
            self.links.peek(&slug).await?
        } else {
            self.links.click(&slug).await?
        };
        let Some(routing) = routing else {
            return Ok(ClickOutcome::NotFound);
        };
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

    pub async fn create_link(
        &self,
        tenant: &TenantId,
        input: LinkInput,
    ) -> Result<LinkView, DomainError> {
        let draft = input::check(input, None)?;
        self.check_members(tenant, &draft).await?;
        let now = self.clock.now();
        let link = draft.into_link(self.ids.new_id(), tenant.clone(), now, now);
        self.links
            .create_link(&link)
            .await
            .map_err(|e| write_error(e, &link))?;
        tracing::info!(tenant = %tenant, slug = %link.slug, "link created");
        Ok(LinkView::from(&link))
    }

    /// The tenant's link; a malformed slug or another tenant's link is not found.
    pub async fn link(&self, tenant: &TenantId, slug: &str) -> Result<Arc<Link>, DomainError> {
        let slug = Slug::parse(slug).map_err(|_| DomainError::NotFound("link"))?;
        self.links
            .get_link(tenant, &slug)
            .await?
            .ok_or(DomainError::NotFound("link"))
    }

    pub async fn list_links(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<LinkView>, DomainError> {
        Ok(self
            .links
            .list_links(tenant, page)
            .await?
            .map(|link| LinkView::from(&*link)))
    }

    /// `PUT`: replaces everything but the slug, type, id, counter and statistics.
    pub async fn replace_link(
        &self,
        tenant: &TenantId,
        slug: &str,
        input: LinkInput,
    ) -> Result<LinkView, DomainError> {
        let current = self.link(tenant, slug).await?;
        let draft = input::check(input, Some(&current))?;
        self.check_members(tenant, &draft).await?;
        let link = draft.into_link(
            current.id,
            tenant.clone(),
            current.created_at,
            self.clock.now(),
        );
        self.links
            .replace_link(&link)
            .await
            .map_err(|e| write_error(e, &link))?;
        tracing::info!(tenant = %tenant, slug = %link.slug, "link replaced");
        Ok(LinkView::from(&link))
    }

    pub async fn delete_link(&self, tenant: &TenantId, slug: &str) -> Result<(), DomainError> {
        let link = self.link(tenant, slug).await?;
        self.links
            .delete_link(tenant, &link.slug)
            .await
            .map_err(|e| write_error(e, &link))?;
        tracing::info!(tenant = %tenant, slug = %link.slug, "link deleted");
        Ok(())
    }

    /// Every member must be a `whatsapp` link of the tenant (422 naming `members[i].link`).
    async fn check_members(&self, tenant: &TenantId, draft: &Draft) -> Result<(), DomainError> {
        let LinkKind::Rotator(rotator) = &draft.kind else {
            return Ok(());
        };
        let mut errors = Vec::new();
        for (i, member) in rotator.members.iter().enumerate() {
            let field = format!("members[{i}].link");
            match self.links.get_link(tenant, &member.link).await? {
                None => errors.push(FieldError::new(
                    field,
                    format!("there is no link '{}'", member.link),
                )),
                Some(link) if link.rotator().is_some() => errors.push(FieldError::new(
                    field,
                    format!(
                        "'{}' is a rotator; a rotator's members must be whatsapp links",
                        member.link
                    ),
                )),
                Some(_) => {}
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(DomainError::Unprocessable {
                detail: errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
                errors,
            })
        }
    }

    /// Click statistics of the tenant's link over `from..=to` (UTC dates; by default the 30 days
    /// up to today).
    pub async fn link_stats(
        &self,
        tenant: &TenantId,
        slug: &str,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<LinkStats, DomainError> {
        let link = self.link(tenant, slug).await?;
        let to = to.unwrap_or_else(|| self.clock.now().date_naive());
        // Near the ends of the calendar the default span is cut short rather than overflowing.
        let from = from.unwrap_or_else(|| {
            to.checked_sub_signed(Duration::days(DEFAULT_STATS_DAYS - 1))
                .unwrap_or(NaiveDate::MIN)
        });
        if from > to {
            return Err(DomainError::invalid("from", "must not be after 'to'"));
        }
        if (to - from).num_days() >= MAX_STATS_DAYS {
            return Err(DomainError::invalid(
                "to",
                format!("the span may cover at most {MAX_STATS_DAYS} days"),
            ));
        }
        let days = self.links.link_clicks(tenant, link.id, from, to).await?;

        let mut clicks = ClickTotals::default();
        let mut members: Vec<MemberClicks> = link
            .rotator()
            .map(|r| {
                r.members
                    .iter()
                    .map(|m| MemberClicks {
                        link: m.link.clone(),
                        clicks: 0,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut former: Vec<MemberClicks> = Vec::new();
        let mut by_day = Vec::new();
        let mut days = days.into_iter().peekable();
        let mut date = from;
        while date <= to {
            let mut row = DayRow {
                date,
                human: 0,
                bot: 0,
            };
            if let Some((_, day)) = days.next_if(|(d, _)| *d == date) {
                row.human = day.human;
                row.bot = day.bot;
                clicks.human += day.human;
                clicks.bot += day.bot;
                clicks.closed += day.closed;
                for (member, n) in day.members {
                    match members.iter_mut().find(|m| m.link == member) {
                        Some(m) => m.clicks += n,
                        None => match former.iter_mut().find(|m| m.link == member) {
                            Some(m) => m.clicks += n,
                            None => former.push(MemberClicks {
                                link: member,
                                clicks: n,
                            }),
                        },
                    }
                }
            }
            by_day.push(row);
            match date.succ_opt() {
                Some(next) => date = next,
                None => break,
            }
        }
        former.sort_by(|a, b| a.link.cmp(&b.link));
        members.extend(former);
        Ok(LinkStats {
            from,
            to,
            clicks,
            members,
            by_day,
        })
    }
}

fn write_error(error: LinkWriteError, link: &Link) -> DomainError {
    match error {
        LinkWriteError::SlugTaken => {
            DomainError::Conflict(format!("the slug '{}' is already taken", link.slug))
        }
        LinkWriteError::NotFound => DomainError::NotFound("link"),
        LinkWriteError::MemberMissing(member) => {
            let index = link
                .rotator()
                .and_then(|r| r.members.iter().position(|m| m.link == member))
                .unwrap_or(0);
            DomainError::unprocessable(
                format!("members[{index}].link"),
                format!("there is no whatsapp link '{member}'"),
            )
        }
        LinkWriteError::InUse(rotators) => {
            let names: Vec<&str> = rotators.iter().map(Slug::as_str).collect();
            DomainError::Conflict(format!(
                "the link '{}' is a member of the rotator{} {}; remove it there first",
                link.slug,
                if names.len() == 1 { "" } else { "s" },
                names.join(", ")
            ))
        }
        LinkWriteError::Port(error) => DomainError::Port(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::Window;
    use crate::links::{Hours, Member, MemberTarget, Phone, Preview, Rotator, WhatsAppTarget};
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
            &routing(closed_rotator(WhenClosed::IgnoreHours), 2),
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
            when_closed: WhenClosed::IgnoreHours,
        };
        for n in 1..=5 {
            assert_eq!(
                member_of(&decide(&routing(setup(), n), at(10), None)),
                Some(1)
            );
        }
    }

    #[tokio::test]
    async fn stats_at_the_ends_of_the_calendar_do_not_overflow() {
        use crate::clock::{Clock, ManualClock};
        use crate::local::{LocalScheduler, Outbox};
        use std::sync::Arc;

        let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(at(10)));
        let ritmo = Ritmo::in_memory(
            clock.clone(),
            Arc::new(crate::ids::SequentialIds::default()),
            Arc::new(Outbox::new(clock.clone())),
            LocalScheduler::new(clock),
        );
        let tenant = TenantId::parse("acme").unwrap();
        let input: LinkInput = serde_json::from_value(serde_json::json!(
            {"slug": "ana", "type": "whatsapp", "phone": "+5511987654321"}
        ))
        .unwrap();
        ritmo.create_link(&tenant, input).await.unwrap();

        let first = NaiveDate::MIN + Duration::days(2);
        let stats = ritmo
            .link_stats(&tenant, "ana", None, Some(first))
            .await
            .unwrap();
        assert_eq!((stats.from, stats.by_day.len()), (NaiveDate::MIN, 3));

        let last = NaiveDate::MAX;
        let stats = ritmo
            .link_stats(&tenant, "ana", Some(last - Duration::days(1)), Some(last))
            .await
            .unwrap();
        assert_eq!(stats.by_day.len(), 2);
        assert_eq!(stats.by_day[1].date, NaiveDate::MAX);
    }
}
