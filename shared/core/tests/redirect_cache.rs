//! The redirect reads link configurations through a per-instance cache: a change made through
//! another instance (the links API is its own Lambda function) shows within `CONFIG_TTL`, one
//! made in the same process at once; the rotation counter is never cached.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use ritmo_core::adapters::MemoryLinkStore;
use ritmo_core::common::clock::{Clock, ManualClock};
use ritmo_core::common::ids::SequentialIds;
use ritmo_core::common::tenant::TenantId;
use ritmo_core::links::admin::LinkAdmin;
use ritmo_core::links::redirect::{LinkCache, Redirect, CONFIG_TTL};
use ritmo_core::links::{ClickOutcome, ClickRequest, LinkInput, StickyKey};
use serde_json::json;

struct World {
    clock: Arc<ManualClock>,
    admin: LinkAdmin,
    redirect: Redirect,
    tenant: TenantId,
}

/// The admin and the redirect on one store; `shared`: in one process (one cache).
fn world(shared: bool) -> World {
    let start: DateTime<Utc> = "2026-12-01T12:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let store = Arc::new(MemoryLinkStore::new());
    let cache = Arc::new(LinkCache::new());
    let admin_cache = if shared {
        cache.clone()
    } else {
        Arc::new(LinkCache::new())
    };
    World {
        admin: LinkAdmin::new(
            clock.clone(),
            Arc::new(SequentialIds::default()),
            store.clone(),
            admin_cache,
        ),
        redirect: Redirect::new(clock.clone(), store, StickyKey::new(b"k"), cache),
        clock,
        tenant: TenantId::parse("acme").unwrap(),
    }
}

fn whatsapp(slug: &str, phone: &str) -> LinkInput {
    serde_json::from_value(json!({"slug": slug, "type": "whatsapp", "phone": phone})).unwrap()
}

impl World {
    async fn location(&self, slug: &str) -> Option<String> {
        let outcome = self
            .redirect
            .resolve_click(ClickRequest {
                slug,
                head: false,
                user_agent: Some("Mozilla/5.0"),
                sticky_cookie: None,
            })
            .await
            .unwrap();
        match outcome {
            ClickOutcome::Redirect { location, .. } => Some(location.to_string()),
            ClickOutcome::NotFound => None,
            other => panic!("{other:?}"),
        }
    }

    fn later(&self, by: TimeDelta) {
        self.clock.set(self.clock.now() + by).unwrap();
    }
}

#[tokio::test]
async fn another_instances_edit_shows_within_the_bound_and_not_before() {
    let w = world(false);
    w.admin
        .create_link(&w.tenant, whatsapp("ana", "+5511987654321"))
        .await
        .unwrap();
    assert_eq!(
        w.location("ana").await.unwrap(),
        "https://wa.me/5511987654321"
    );
    w.admin
        .replace_link(&w.tenant, "ana", whatsapp("ana", "+5511912345678"))
        .await
        .unwrap();
    w.later(CONFIG_TTL - TimeDelta::milliseconds(1));
    assert_eq!(
        w.location("ana").await.unwrap(),
        "https://wa.me/5511987654321"
    );
    w.later(TimeDelta::milliseconds(1));
    assert_eq!(
        w.location("ana").await.unwrap(),
        "https://wa.me/5511912345678"
    );
}

#[tokio::test]
async fn a_slug_seen_missing_is_found_within_the_bound_once_created() {
    let w = world(false);
    assert_eq!(w.location("novo").await, None);
    w.admin
        .create_link(&w.tenant, whatsapp("novo", "+5511987654321"))
        .await
        .unwrap();
    assert_eq!(w.location("novo").await, None, "remembered as missing");
    w.later(CONFIG_TTL);
    assert!(w.location("novo").await.is_some());
}

#[tokio::test]
async fn a_change_in_the_same_process_shows_at_once() {
    let w = world(true);
    assert_eq!(w.location("ana").await, None);
    w.admin
        .create_link(&w.tenant, whatsapp("ana", "+5511987654321"))
        .await
        .unwrap();
    assert!(w.location("ana").await.is_some());
    w.admin.delete_link(&w.tenant, "ana").await.unwrap();
    assert_eq!(w.location("ana").await, None);
}

#[tokio::test]
async fn the_rotation_counter_is_never_cached() {
    let w = world(false);
    for (slug, phone) in [("ana", "+5511987654321"), ("bia", "+5511912345678")] {
        w.admin
            .create_link(&w.tenant, whatsapp(slug, phone))
            .await
            .unwrap();
    }
    let rotator: LinkInput = serde_json::from_value(json!({
        "slug": "loja", "type": "rotator", "members": [{"link": "ana"}, {"link": "bia"}]
    }))
    .unwrap();
    w.admin.create_link(&w.tenant, rotator).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(w.location("loja").await.unwrap());
    }
    assert_eq!(seen[0], seen[2]);
    assert_eq!(seen[1], seen[3]);
    assert_ne!(
        seen[0], seen[1],
        "strict turns with the configuration cached"
    );
}
