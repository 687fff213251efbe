//! The in-memory link store: the local server's default and the unit tests' backend.
//!
//! Each slug's entry keeps the link, its members' current targets (rebuilt whenever the rotator
//! or one of its members is written) and an atomic counter, so a click takes a shared lock, one
//! atomic increment and a few reference-count bumps.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use chrono::NaiveDate;
use ulid::Ulid;

use crate::common::error::PortError;
use crate::common::page::{paginate, Page, PageRequest};
use crate::common::tenant::TenantId;
use crate::links::{
    ClickRecord, DayClicks, Link, LinkKind, LinkRouting, LinkStore, LinkWriteError, MemberTarget,
    Routing, Slug,
};

struct Entry {
    link: Arc<Link>,
    members: Arc<[MemberTarget]>,
    counter: AtomicU64,
}

/// Each link's clicks by day, keyed by the link's id alone (ids are unique across tenants; the
/// tenant beside them is checked on read), so that counting a click copies no key.
type Clicks = HashMap<Ulid, (TenantId, BTreeMap<NaiveDate, DayClicks>)>;

#[derive(Default)]
pub struct MemoryLinkStore {
    links: RwLock<HashMap<Slug, Entry>>,
    clicks: Mutex<Clicks>,
}

impl MemoryLinkStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Slug, Entry>> {
        self.links.read().expect("link store lock")
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Slug, Entry>> {
        self.links.write().expect("link store lock")
    }
}

/// The targets of a rotator's members, checking that each is a `whatsapp` link of its tenant.
fn member_targets(
    links: &HashMap<Slug, Entry>,
    link: &Link,
) -> Result<Arc<[MemberTarget]>, LinkWriteError> {
    let LinkKind::Rotator(rotator) = &link.kind else {
        return Ok(Arc::new([]));
    };
    rotator
        .members
        .iter()
        .map(|member| {
            links
                .get(&member.link)
                .filter(|e| e.link.tenant == link.tenant)
                .and_then(|e| MemberTarget::of(&e.link))
                .ok_or_else(|| LinkWriteError::MemberMissing(member.link.clone()))
        })
        .collect()
}

fn routing(entry: &Entry, counter: u64) -> Routing {
    Routing {
        link: entry.link.clone(),
        members: entry.members.clone(),
        counter,
    }
}

fn uses(link: &Link, member: &Slug) -> bool {
    link.rotator()
        .is_some_and(|r| r.members.iter().any(|m| &m.link == member))
}

#[async_trait]
impl LinkStore for MemoryLinkStore {
    async fn create_link(&self, link: &Link) -> Result<(), LinkWriteError> {
        let mut links = self.write();
        if links.contains_key(&link.slug) {
            return Err(LinkWriteError::SlugTaken);
        }
        let members = member_targets(&links, link)?;
        links.insert(
            link.slug.clone(),
            Entry {
                link: Arc::new(link.clone()),
                members,
                counter: AtomicU64::new(0),
            },
        );
        Ok(())
    }

    async fn replace_link(&self, link: &Link) -> Result<(), LinkWriteError> {
        let mut links = self.write();
        match links.get(&link.slug) {
            Some(entry) if entry.link.tenant == link.tenant => {}
            _ => return Err(LinkWriteError::NotFound),
        }
        let members = member_targets(&links, link)?;
        let link = Arc::new(link.clone());
        if let Some(entry) = links.get_mut(&link.slug) {
            entry.link = link.clone();
            entry.members = members;
        }
        if link.whatsapp().is_some() {
            let users: Vec<Slug> = links
                .values()
                .filter(|e| e.link.tenant == link.tenant && uses(&e.link, &link.slug))
                .map(|e| e.link.slug.clone())
                .collect();
            for slug in users {
                let refreshed = links
                    .get(&slug)
                    .map(|e| member_targets(&links, &e.link))
                    .transpose()?;
                if let (Some(entry), Some(members)) = (links.get_mut(&slug), refreshed) {
                    entry.members = members;
                }
            }
        }
        Ok(())
    }

    async fn delete_link(&self, tenant: &TenantId, slug: &Slug) -> Result<(), LinkWriteError> {
        let mut links = self.write();
        let link = match links.get(slug) {
            Some(entry) if &entry.link.tenant == tenant => entry.link.clone(),
            _ => return Err(LinkWriteError::NotFound),
        };
        let mut users: Vec<Slug> = links
            .values()
            .filter(|e| &e.link.tenant == tenant && uses(&e.link, slug))
            .map(|e| e.link.slug.clone())
            .collect();
        if !users.is_empty() {
            users.sort();
            return Err(LinkWriteError::InUse(users));
        }
        links.remove(slug);
        drop(links);
        self.clicks
            .lock()
            .expect("click store lock")
            .remove(&link.id);
        Ok(())
    }

    async fn get_link(
        &self,
        tenant: &TenantId,
        slug: &Slug,
    ) -> Result<Option<Arc<Link>>, PortError> {
        Ok(self
            .read()
            .get(slug)
            .filter(|e| &e.link.tenant == tenant)
            .map(|e| e.link.clone()))
    }

    async fn list_links(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Arc<Link>>, PortError> {
        let mut links: Vec<Arc<Link>> = self
            .read()
            .values()
            .filter(|e| &e.link.tenant == tenant)
            .map(|e| e.link.clone())
            .collect();
        links.sort_by(|a, b| a.slug.cmp(&b.slug));
        Ok(paginate(links, page, |link| link.slug.to_string()))
    }

    async fn link_clicks(
        &self,
        tenant: &TenantId,
        link_id: Ulid,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, DayClicks)>, PortError> {
        Ok(self
            .clicks
            .lock()
            .expect("click store lock")
            .get(&link_id)
            .filter(|(owner, _)| owner == tenant)
            .map(|(_, days)| {
                days.range(from..=to)
                    .map(|(d, c)| (*d, c.clone()))
                    .collect()
            })
            .unwrap_or_default())
    }
}

#[async_trait]
impl LinkRouting for MemoryLinkStore {
    async fn peek(&self, slug: &Slug) -> Result<Option<Routing>, PortError> {
        Ok(self
            .read()
            .get(slug)
            .map(|e| routing(e, e.counter.load(Ordering::SeqCst))))
    }

    async fn advance(&self, slug: &Slug) -> Result<Option<u64>, PortError> {
        Ok(self
            .read()
            .get(slug)
            .map(|e| e.counter.fetch_add(1, Ordering::SeqCst) + 1))
    }

    async fn record_click(&self, click: &ClickRecord) -> Result<(), PortError> {
        self.clicks
            .lock()
            .expect("click store lock")
            .entry(click.link_id)
            .or_insert_with(|| (click.tenant.clone(), BTreeMap::new()))
            .1
            .entry(click.day)
            .or_default()
            .add(&click.kind);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::phone::Phone;
    use crate::links::{ClickKind, Member, Preview, Rotator, WhatsAppTarget, WhenClosed};
    use chrono::Utc;

    fn tenant(t: &str) -> TenantId {
        TenantId::parse(t).unwrap()
    }

    fn slug(s: &str) -> Slug {
        Slug::parse(s).unwrap()
    }

    fn link(t: &str, s: &str, kind: LinkKind) -> Link {
        Link {
            id: Ulid::new(),
            tenant: tenant(t),
            slug: slug(s),
            kind,
            hours: None,
            when_closed: WhenClosed::default(),
            preview: Preview::default(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn whatsapp(t: &str, s: &str, phone: &str) -> Link {
        link(
            t,
            s,
            LinkKind::WhatsApp(WhatsAppTarget::new(Phone::parse(phone).unwrap(), None)),
        )
    }

    fn rotator(t: &str, s: &str, members: &[&str]) -> Link {
        link(
            t,
            s,
            LinkKind::Rotator(Rotator::new(
                members
                    .iter()
                    .map(|m| Member {
                        link: slug(m),
                        weight: 1,
                        enabled: true,
                    })
                    .collect(),
                false,
                30,
            )),
        )
    }

    #[tokio::test]
    async fn members_must_be_whatsapp_links_of_the_same_tenant() {
        let store = MemoryLinkStore::new();
        store
            .create_link(&whatsapp("a", "ana", "+5511987654321"))
            .await
            .unwrap();
        store
            .create_link(&whatsapp("b", "bia", "+5511987654322"))
            .await
            .unwrap();
        assert!(matches!(
            store.create_link(&rotator("a", "mystore", &["ana", "bia"])).await,
            Err(LinkWriteError::MemberMissing(m)) if m.as_str() == "bia"
        ));
        assert!(matches!(
            store
                .create_link(&whatsapp("b", "ana", "+5511987654322"))
                .await,
            Err(LinkWriteError::SlugTaken)
        ));
        store
            .create_link(&rotator("a", "mystore", &["ana"]))
            .await
            .unwrap();
        assert!(matches!(
            store.delete_link(&tenant("a"), &slug("ana")).await,
            Err(LinkWriteError::InUse(r)) if r == [slug("mystore")]
        ));
        assert!(matches!(
            store.delete_link(&tenant("b"), &slug("mystore")).await,
            Err(LinkWriteError::NotFound)
        ));
        assert!(store
            .get_link(&tenant("b"), &slug("ana"))
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn clicks_count_up_and_replacing_a_member_refreshes_its_rotators() {
        let store = MemoryLinkStore::new();
        store
            .create_link(&whatsapp("a", "ana", "+5511987654321"))
            .await
            .unwrap();
        let mystore = rotator("a", "mystore", &["ana"]);
        store.create_link(&mystore).await.unwrap();
        let s = slug("mystore");
        assert_eq!(store.advance(&s).await.unwrap(), Some(1));
        assert_eq!(store.advance(&s).await.unwrap(), Some(2));
        assert_eq!(store.peek(&s).await.unwrap().unwrap().counter, 2);

        let mut ana = whatsapp("a", "ana", "+5511987654329");
        ana.id = store
            .get_link(&tenant("a"), &slug("ana"))
            .await
            .unwrap()
            .unwrap()
            .id;
        store.replace_link(&ana).await.unwrap();
        let routing = store.peek(&s).await.unwrap().unwrap();
        assert_eq!(
            &**routing.members[0].target.location(),
            "https://wa.me/5511987654329"
        );
        assert_eq!(routing.counter, 2);

        let day = Utc::now().date_naive();
        for kind in [
            ClickKind::Bot,
            ClickKind::Human {
                member: Some(slug("ana")),
            },
            ClickKind::Closed,
        ] {
            store
                .record_click(&ClickRecord {
                    tenant: tenant("a"),
                    link_id: mystore.id,
                    day,
                    kind,
                })
                .await
                .unwrap();
        }
        let days = store
            .link_clicks(&tenant("a"), mystore.id, day, day)
            .await
            .unwrap();
        assert_eq!(days.len(), 1);
        assert_eq!(
            (days[0].1.human, days[0].1.bot, days[0].1.closed),
            (1, 1, 1)
        );
        assert_eq!(days[0].1.members[&slug("ana")], 1);
    }
}
