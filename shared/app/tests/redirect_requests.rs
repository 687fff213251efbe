//! What one click costs on DynamoDB, counted at the SDK as every attempt goes out (SPEC §3):
//! at most 2 requests per human click with every item it writes under 1 KB, no write for an
//! unknown slug, at most 1 request for a bot or `HEAD`.
//!
//! Needs `RITMO_TEST_DYNAMODB_ENDPOINT` (set by `infra/test.sh`); `#[ignore]`d without the
//! emulator.

mod common;

use std::sync::Arc;

use common::{counted_client, item_size, store_on_new_table, total, writes, Requests};
use ritmo_core::common::clock::{Clock, ManualClock, SystemClock};
use ritmo_core::common::ids::UlidGen;
use ritmo_core::common::tenant::TenantId;
use ritmo_core::links::admin::LinkAdmin;
use ritmo_core::links::input::LinkInput;
use ritmo_core::links::redirect::{ClickOutcome, ClickRequest, LinkCache, Redirect};
use ritmo_core::links::StickyKey;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator: infra/test.sh runs it"]
async fn a_click_costs_at_most_two_small_requests_an_unknown_slug_writes_nothing_a_bot_one() {
    let endpoint = ritmo_aws::local::emulator_endpoint("RITMO_TEST_DYNAMODB_ENDPOINT");
    let requests = Requests::default();
    let client = counted_client(&endpoint, &requests).await;
    let (store, table) = store_on_new_table(client.clone(), "clicks").await;

    // A rotator of twenty attendants with ordinary greeting texts, as the admin API makes it.
    let clock = Arc::new(SystemClock);
    let admin = LinkAdmin::new(
        clock.clone(),
        Arc::new(UlidGen::new(clock.clone())),
        store.clone(),
        Arc::new(LinkCache::new()),
    );
    let tenant = TenantId::parse("acme").unwrap();
    let mut members = Vec::new();
    for i in 0..20 {
        let slug = format!("atendente-{i:02}");
        let input: LinkInput = serde_json::from_value(json!({
            "slug": slug, "type": "whatsapp", "phone": format!("+55119876543{i:02}"),
            "text": "Olá! Vim pelo site e gostaria de saber mais sobre os produtos da loja."
        }))
        .unwrap();
        admin.create_link(&tenant, input).await.unwrap();
        members.push(json!({"link": slug}));
    }
    let input: LinkInput = serde_json::from_value(json!({
        "slug": "loja", "type": "rotator", "members": members,
        "preview": {"title": "Loja Centro", "description": "Fale com um dos nossos atendentes"}
    }))
    .unwrap();
    admin.create_link(&tenant, input).await.unwrap();

    // The redirect's clock stands still: the clicks below all fall inside the configuration
    // cache's window however slowly the emulator answers, so what is counted is the clicks'
    // cost, not how many windows a loaded machine took to serve them.
    let redirect = Redirect::new(
        Arc::new(ManualClock::new(clock.now())),
        store.clone(),
        StickyKey::new(b"test"),
        Arc::new(LinkCache::new()),
    );
    let human = |slug: &'static str| ClickRequest {
        slug,
        head: false,
        user_agent: Some("Mozilla/5.0 (Linux; Android 14) Chrome/120.0 Mobile Safari/537.36"),
        sticky_cookie: None,
    };
    requests.take();

    // The first click reads the configuration; the next 99 come from this instance's cache.
    let clicks = 100;
    for _ in 0..clicks {
        let outcome = redirect.resolve_click(human("loja")).await.unwrap();
        assert!(
            matches!(outcome, ClickOutcome::Redirect { .. }),
            "{outcome:?}"
        );
    }
    let counted = requests.take();
    println!("{clicks} human clicks: {counted:?}");
    assert!(
        total(&counted) <= 2 * clicks + 1,
        "{} requests for {clicks} clicks: {counted:?}",
        total(&counted)
    );
    assert_eq!(writes(&counted), 2 * clicks, "{counted:?}");

    // Every item a click wrote is small: the counter and the click statistics.
    let scanned = client.scan().table_name(&table).send().await.unwrap();
    let mut written = 0;
    for item in scanned.items() {
        let sk = item
            .get("sk")
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default();
        if sk == "C" || sk.starts_with("D#") {
            written += 1;
            let size = item_size(item);
            assert!(size < 1024, "{sk}: {size} bytes");
        }
    }
    assert!(written >= 2, "the counter and at least one statistics item");
    requests.take();

    // An unknown slug: one read, then none (remembered as absent), and never a write.
    for _ in 0..10 {
        let outcome = redirect.resolve_click(human("nao-existe")).await.unwrap();
        assert!(matches!(outcome, ClickOutcome::NotFound));
    }
    let counted = requests.take();
    assert_eq!(writes(&counted), 0, "{counted:?}");
    assert!(total(&counted) <= 1, "{counted:?}");

    // A crawler and a HEAD request: the cached configuration and one statistics write each.
    for head in [false, true] {
        let outcome = redirect
            .resolve_click(ClickRequest {
                slug: "loja",
                head,
                user_agent: Some("WhatsApp/2.23.20.0 A"),
                sticky_cookie: None,
            })
            .await
            .unwrap();
        assert!(matches!(outcome, ClickOutcome::Preview { .. }));
        let counted = requests.take();
        assert!(total(&counted) <= 1, "{counted:?}");
    }
}
