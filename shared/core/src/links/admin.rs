//! The admin operations on links: create, read, list, replace, delete, statistics.

use std::sync::Arc;

use chrono::{Duration, NaiveDate};
use serde::Serialize;

use super::input::{self, Draft, LinkInput, LinkView};
use super::redirect::LinkCache;
use super::store::LinkStore;
use super::{Link, LinkKind, LinkWriteError, Slug};
use crate::common::clock::Clock;
use crate::common::error::{DomainError, FieldError};
use crate::common::ids::IdGen;
use crate::common::page::{Page, PageRequest};
use crate::common::tenant::TenantId;

/// Longest span `GET /v1/links/{slug}/stats` covers.
pub const MAX_STATS_DAYS: i64 = 366;
/// Span of the statistics when no `from` is given.
pub const DEFAULT_STATS_DAYS: i64 = 30;

/// Clicks by kind: people sent on, bots and previews, and clicks while everything was closed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClickTotals {
    pub human: u64,
    pub bot: u64,
    pub closed: u64,
}

/// Human clicks a rotator sent to one member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemberClicks {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub link: Slug,
    pub clicks: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DayRow {
    pub date: NaiveDate,
    pub human: u64,
    pub bot: u64,
}

/// `GET /v1/links/{slug}/stats`: clicks in `from..=to` (UTC dates).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "from": "2026-11-01", "to": "2026-11-02", "clicks": {"human": 40, "bot": 3, "closed": 1},
    "members": [{"link": "ana", "clicks": 20}, {"link": "bia", "clicks": 20}],
    "by_day": [{"date": "2026-11-01", "human": 25, "bot": 2}, {"date": "2026-11-02", "human": 15, "bot": 1}]
})))]
pub struct LinkStats {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub clicks: ClickTotals,
    /// A rotator's current members in list order, then any former member that had clicks.
    pub members: Vec<MemberClicks>,
    /// Every day of the span, oldest first.
    pub by_day: Vec<DayRow>,
}

/// The admin operations on a tenant's links.
#[derive(Clone)]
pub struct LinkAdmin {
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGen>,
    links: Arc<dyn LinkStore>,
    /// The redirect's cache in this process, cleared on every change.
    cache: Arc<LinkCache>,
}

impl LinkAdmin {
    pub fn new(
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGen>,
        links: Arc<dyn LinkStore>,
        cache: Arc<LinkCache>,
    ) -> Self {
        Self {
            clock,
            ids,
            links,
            cache,
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
        self.cache.clear();
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
        self.cache.clear();
        tracing::info!(tenant = %tenant, slug = %link.slug, "link replaced");
        Ok(LinkView::from(&link))
    }

    pub async fn delete_link(&self, tenant: &TenantId, slug: &str) -> Result<(), DomainError> {
        let link = self.link(tenant, slug).await?;
        self.links
            .delete_link(tenant, &link.slug)
            .await
            .map_err(|e| write_error(e, &link))?;
        self.cache.clear();
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
            return Err(DomainError::unprocessable("from", "must not be after 'to'"));
        }
        if (to - from).num_days() >= MAX_STATS_DAYS {
            return Err(DomainError::unprocessable(
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
    use chrono::{TimeZone, Utc};

    fn at(h: u32) -> chrono::DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 1, 7, h, 0, 0).unwrap()
    }

    #[tokio::test]
    async fn stats_at_the_ends_of_the_calendar_do_not_overflow() {
        use crate::adapters::MemoryLinkStore;
        use crate::common::clock::{Clock, ManualClock};

        let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(at(10)));
        let ritmo = LinkAdmin::new(
            clock,
            Arc::new(crate::common::ids::SequentialIds::default()),
            Arc::new(MemoryLinkStore::new()),
            Arc::new(LinkCache::new()),
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

        // Well-formed dates that make no span are unprocessable, not malformed.
        let day = NaiveDate::from_ymd_opt(2030, 1, 7).unwrap();
        for (from, to, field) in [
            (day, day - Duration::days(1), "from"),
            (day - Duration::days(MAX_STATS_DAYS), day, "to"),
        ] {
            match ritmo.link_stats(&tenant, "ana", Some(from), Some(to)).await {
                Err(DomainError::Unprocessable { errors, .. }) => {
                    assert_eq!(errors[0].field, field)
                }
                other => panic!("{from}..{to}: {other:?}"),
            }
        }
    }
}
