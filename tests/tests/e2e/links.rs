//! Sequential links against `ritmo-local`: the admin API (SPEC §2 "Links") and the public
//! redirect (SPEC §3).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use reqwest::Method;
use ritmo_core::common::tenant::Role;
use ritmo_e2e::{Reply, TestServer};
use serde_json::{json, Value};

const BROWSER: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";

/// 2040-01-02 is a Monday.
const MONDAY_10: &str = "2040-01-02T10:00:00Z";
const MONDAY_13: &str = "2040-01-02T13:00:00Z";

fn phone(n: u32) -> String {
    format!("+55119876543{n:02}")
}

fn wa(n: u32) -> String {
    format!("https://wa.me/55119876543{n:02}")
}

fn morning_hours() -> Value {
    json!({"time_zone": "UTC", "days": {"mon": [["09:00", "12:00"]]}})
}

async fn whatsapp(server: &TestServer, slug: &str, n: u32, extra: Value) -> Value {
    let mut body = json!({"slug": slug, "type": "whatsapp", "phone": phone(n)});
    merge(&mut body, extra);
    let reply = server.post("/v1/links", body).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.body
}

async fn rotator(server: &TestServer, slug: &str, members: Value, extra: Value) -> Value {
    let mut body = json!({"slug": slug, "type": "rotator", "members": members});
    merge(&mut body, extra);
    let reply = server.post("/v1/links", body).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.body
}

fn url(server: &TestServer, path: &str) -> String {
    format!("{}{path}", server.base)
}

/// A redirect answer: status, headers and the body as text (HTML or nothing).
#[derive(Debug)]
struct Page {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Page {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn read(response: reqwest::Response) -> Page {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.text().await.unwrap();
    Page {
        status,
        headers,
        body,
    }
}

fn header<'r>(reply: &'r Reply, name: &str) -> Option<&'r str> {
    reply.headers.get(name).and_then(|v| v.to_str().ok())
}

fn merge(body: &mut Value, extra: Value) {
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
}

/// Three attendants `ana`, `bia`, `cai` (phones 01, 02, 03).
async fn attendants(server: &TestServer) {
    whatsapp(server, "ana", 1, json!({})).await;
    whatsapp(server, "bia", 2, json!({})).await;
    whatsapp(server, "cai", 3, json!({})).await;
}

/// One click on `/{slug}` as a person, with an optional sticky cookie value.
async fn click(server: &TestServer, slug: &str, cookie: Option<&str>) -> Page {
    let mut request = server
        .client
        .get(url(server, &format!("/{slug}")))
        .header("user-agent", BROWSER);
    if let Some(cookie) = cookie {
        request = request.header("cookie", format!("ritmo_sticky={cookie}"));
    }
    read(request.send().await.unwrap()).await
}

fn location(reply: &Page) -> String {
    assert_eq!(reply.status, 302, "{}", reply.body);
    reply.header("location").unwrap().to_string()
}

/// The sticky cookie's value and attributes from a `Set-Cookie`, if any.
fn set_cookie(reply: &Page) -> Option<(String, String)> {
    let header = reply.header("set-cookie")?;
    let (pair, attributes) = header.split_once(';').unwrap_or((header, ""));
    let value = pair.strip_prefix("ritmo_sticky=")?.to_string();
    Some((value, attributes.trim().to_string()))
}

/// Statistics over the whole span a test can have clicked in (real or manual clock).
async fn all_stats(server: &TestServer, slug: &str, from: &str, to: &str) -> Value {
    server
        .get(&format!("/v1/links/{slug}/stats?from={from}&to={to}"))
        .await
        .ok()
}

fn member_clicks(stats: &Value) -> BTreeMap<String, u64> {
    stats["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["link"].as_str().unwrap().to_string(),
                m["clicks"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_equal_members_split_3000_concurrent_clicks_exactly() {
    let server = Arc::new(TestServer::start(&["--manual-clock"]).await);
    server.clock_to(MONDAY_10).await;
    attendants(&server).await;
    rotator(
        &server,
        "mystore",
        json!([{"link": "ana"}, {"link": "bia"}, {"link": "cai"}]),
        json!({}),
    )
    .await;

    let remaining = Arc::new(AtomicUsize::new(3000));
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let server = server.clone();
        let remaining = remaining.clone();
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            while remaining
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                let reply = click(&server, "mystore", None).await;
                assert_eq!(reply.header("cache-control"), Some("private, no-store"));
                seen.push(location(&reply));
            }
            seen
        }));
    }
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for task in tasks {
        for location in task.await.unwrap() {
            *counts.entry(location).or_default() += 1;
        }
    }
    assert_eq!(
        counts,
        BTreeMap::from([(wa(1), 1000), (wa(2), 1000), (wa(3), 1000)])
    );

    let stats = all_stats(&server, "mystore", "2040-01-02", "2040-01-02").await;
    assert_eq!(
        stats["clicks"],
        json!({"human": 3000, "bot": 0, "closed": 0})
    );
    assert_eq!(
        member_clicks(&stats),
        BTreeMap::from([
            ("ana".into(), 1000),
            ("bia".into(), 1000),
            ("cai".into(), 1000)
        ])
    );
    assert_eq!(
        stats["by_day"],
        json!([{"date": "2040-01-02", "human": 3000, "bot": 0}])
    );
}

#[tokio::test]
async fn weights_1_2_1_split_400_clicks_100_200_100_never_twice_in_a_row() {
    let server = TestServer::start(&[]).await;
    attendants(&server).await;
    rotator(
        &server,
        "mystore",
        json!([{"link": "ana", "weight": 1}, {"link": "bia", "weight": 2}, {"link": "cai"}]),
        json!({}),
    )
    .await;
    let mut sequence = Vec::new();
    for _ in 0..400 {
        sequence.push(location(&click(&server, "mystore", None).await));
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for location in &sequence {
        *counts.entry(location.as_str()).or_default() += 1;
    }
    assert_eq!(
        counts,
        BTreeMap::from([
            (wa(1).as_str(), 100),
            (wa(2).as_str(), 200),
            (wa(3).as_str(), 100)
        ])
    );
    for pair in sequence.windows(2) {
        assert_ne!(pair[0], pair[1], "the same member twice in a row");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_and_head_requests_never_advance_the_rotation() {
    let server = Arc::new(TestServer::start(&["--manual-clock"]).await);
    server.clock_to(MONDAY_10).await;
    attendants(&server).await;
    rotator(
        &server,
        "mystore",
        json!([{"link": "ana"}, {"link": "bia"}, {"link": "cai"}]),
        json!({"preview": {"title": "Minha Loja <Oficial>", "description": "Fale com a gente & ganhe",
                            "image_url": "https://cdn.example.com/logo.png"}}),
    )
    .await;

    let agents = [
        Some("WhatsApp/2.23.20.0"),
        Some("facebookexternalhit/1.1"),
        Some("TelegramBot (like TwitterBot)"),
        None, // HEAD from a browser
    ];
    let mut tasks = Vec::new();
    for worker in 0..8usize {
        let server = server.clone();
        tasks.push(tokio::spawn(async move {
            for i in (worker..1000).step_by(8) {
                let request = match agents[i % agents.len()] {
                    Some(ua) => server
                        .client
                        .get(url(&server, "/mystore"))
                        .header("user-agent", ua),
                    None => server
                        .client
                        .request(Method::HEAD, url(&server, "/mystore"))
                        .header("user-agent", BROWSER),
                };
                let reply = read(request.send().await.unwrap()).await;
                assert_eq!(reply.status, 200, "{}", reply.body);
                assert_eq!(
                    reply.header("content-type"),
                    Some("text/html; charset=utf-8")
                );
                assert_eq!(reply.header("cache-control"), Some("private, no-store"));
                assert!(reply.header("location").is_none());
                assert!(reply.header("set-cookie").is_none());
                if agents[i % agents.len()].is_some() {
                    assert!(
                        reply.body.contains(
                            r#"<meta property="og:title" content="Minha Loja &lt;Oficial&gt;">"#
                        ),
                        "{}",
                        reply.body
                    );
                    assert!(reply.body.contains(
                        r#"<meta property="og:description" content="Fale com a gente &amp; ganhe">"#
                    ));
                    assert!(reply.body.contains(
                        r#"<meta property="og:image" content="https://cdn.example.com/logo.png">"#
                    ));
                } else {
                    assert!(reply.body.is_empty());
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }

    // The counter is where it was: the first person still goes to the first member.
    assert_eq!(location(&click(&server, "mystore", None).await), wa(1));
    assert_eq!(location(&click(&server, "mystore", None).await), wa(2));
    let stats = all_stats(&server, "mystore", "2040-01-02", "2040-01-02").await;
    assert_eq!(
        stats["clicks"],
        json!({"human": 2, "bot": 1000, "closed": 0})
    );
    assert_eq!(
        stats["by_day"],
        json!([{"date": "2040-01-02", "human": 2, "bot": 1000}])
    );
}

#[tokio::test]
async fn sticky_customers_keep_their_member_until_it_closes() {
    let server = TestServer::start(&["--manual-clock"]).await;
    server.clock_to(MONDAY_10).await;
    whatsapp(&server, "ana", 1, json!({})).await;
    whatsapp(&server, "bia", 2, json!({"hours": morning_hours()})).await;
    whatsapp(&server, "cai", 3, json!({})).await;
    rotator(
        &server,
        "mystore",
        json!([{"link": "ana"}, {"link": "bia"}, {"link": "cai"}]),
        json!({"sticky": true, "sticky_days": 7}),
    )
    .await;

    // Counter 1 → ana; counter 2 → bia, remembered in a cookie.
    assert_eq!(location(&click(&server, "mystore", None).await), wa(1));
    let first = click(&server, "mystore", None).await;
    assert_eq!(location(&first), wa(2));
    let (cookie, attributes) = set_cookie(&first).expect("a sticky cookie");
    for attribute in [
        "Max-Age=604800",
        "Path=/mystore",
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
    ] {
        assert!(attributes.contains(attribute), "{attributes}");
    }

    for _ in 0..20 {
        let again = click(&server, "mystore", Some(&cookie)).await;
        assert_eq!(location(&again), wa(2));
        assert!(set_cookie(&again).is_none());
    }
    // Twenty returning clicks did not move the counter: the next newcomer gets counter 3 → cai.
    assert_eq!(location(&click(&server, "mystore", None).await), wa(3));

    // A tampered cookie is ignored: the customer is a newcomer (counter 4 → ana).
    let forged = cookie.replacen("bia", "cai", 1);
    let tampered = click(&server, "mystore", Some(&forged)).await;
    assert_eq!(location(&tampered), wa(1));
    assert!(set_cookie(&tampered).unwrap().0.starts_with("ana."));
    let mut garbled = cookie.clone();
    garbled.pop();
    garbled.push(if cookie.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(
        location(&click(&server, "mystore", Some(&garbled)).await),
        wa(2)
    );

    // bia closes at 12:00: the customer goes to an open member and the cookie is replaced.
    server.clock_to(MONDAY_13).await;
    let moved = click(&server, "mystore", Some(&cookie)).await;
    let now_at = location(&moved);
    assert!(now_at == wa(1) || now_at == wa(3), "{now_at}");
    let (replaced, _) = set_cookie(&moved).expect("a replacement cookie");
    assert_ne!(replaced, cookie);
    for _ in 0..5 {
        let again = click(&server, "mystore", Some(&replaced)).await;
        assert_eq!(location(&again), now_at);
        assert!(set_cookie(&again).is_none());
    }
}

#[tokio::test]
async fn rotation_skips_closed_and_disabled_members() {
    let server = TestServer::start(&["--manual-clock"]).await;
    server.clock_to(MONDAY_13).await;
    whatsapp(&server, "ana", 1, json!({})).await;
    whatsapp(&server, "bia", 2, json!({"hours": morning_hours()})).await;
    whatsapp(&server, "cai", 3, json!({})).await;
    whatsapp(&server, "dan", 4, json!({})).await;
    rotator(
        &server,
        "mystore",
        json!([{"link": "ana"}, {"link": "bia"}, {"link": "cai"}, {"link": "dan", "enabled": false}]),
        json!({}),
    )
    .await;
    let mut seen = Vec::new();
    for _ in 0..6 {
        seen.push(location(&click(&server, "mystore", None).await));
    }
    assert_eq!(seen, [wa(1), wa(3), wa(1), wa(3), wa(1), wa(3)]);
}

#[tokio::test]
async fn a_closed_rotator_shows_the_page_with_message_and_hours() {
    let server = TestServer::start(&["--manual-clock"]).await;
    server.clock_to(MONDAY_13).await;
    attendants(&server).await;
    rotator(
        &server,
        "mystore",
        json!([{"link": "ana"}, {"link": "bia"}]),
        json!({"hours": morning_hours(), "when_closed": {"type": "page", "message": "Voltamos às 9h <amanhã>"}}),
    )
    .await;
    let reply = click(&server, "mystore", None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(reply.header("cache-control"), Some("private, no-store"));
    assert!(
        reply.body.contains("Voltamos às 9h &lt;amanhã&gt;"),
        "{}",
        reply.body
    );
    assert!(
        reply.body.contains("Monday</th><td>09:00–12:00"),
        "{}",
        reply.body
    );
    assert!(reply.body.contains("Tuesday</th><td>closed"));
    assert!(reply.body.contains("Times in UTC."));

    // Open again at 10:00 next Monday; closed clicks did not disturb the rotation.
    server.clock_to("2040-01-09T10:00:00Z").await;
    assert_eq!(location(&click(&server, "mystore", None).await), wa(2));
    let stats = all_stats(&server, "mystore", "2040-01-02", "2040-01-09").await;
    assert_eq!(stats["clicks"], json!({"human": 1, "bot": 0, "closed": 1}));
    assert_eq!(stats["by_day"].as_array().unwrap().len(), 8);
}

#[tokio::test]
async fn a_closed_rotator_can_redirect_elsewhere() {
    let server = TestServer::start(&["--manual-clock"]).await;
    server.clock_to(MONDAY_13).await;
    whatsapp(&server, "ana", 1, json!({"hours": morning_hours()})).await;
    whatsapp(&server, "bia", 2, json!({"hours": morning_hours()})).await;
    rotator(
        &server,
        "mystore",
        json!([{"link": "ana"}, {"link": "bia"}]),
        json!({"when_closed": {"type": "redirect", "url": "https://example.com/fechado?x=1"}}),
    )
    .await;
    let reply = click(&server, "mystore", None).await;
    assert_eq!(location(&reply), "https://example.com/fechado?x=1");
    assert_eq!(reply.header("cache-control"), Some("private, no-store"));
    let stats = all_stats(&server, "mystore", "2040-01-02", "2040-01-02").await;
    assert_eq!(stats["clicks"], json!({"human": 0, "bot": 0, "closed": 1}));
}

#[tokio::test]
async fn a_closed_rotator_can_ignore_the_hours() {
    let server = TestServer::start(&["--manual-clock"]).await;
    server.clock_to(MONDAY_13).await;
    whatsapp(&server, "ana", 1, json!({"hours": morning_hours()})).await;
    whatsapp(&server, "bia", 2, json!({"hours": morning_hours()})).await;
    whatsapp(&server, "cai", 3, json!({"hours": morning_hours()})).await;
    rotator(
        &server,
        "mystore",
        json!([{"link": "ana"}, {"link": "bia", "enabled": false}, {"link": "cai"}]),
        json!({"hours": morning_hours(), "when_closed": {"type": "ignore_hours"}}),
    )
    .await;
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(location(&click(&server, "mystore", None).await));
    }
    assert_eq!(seen, [wa(1), wa(3), wa(1), wa(3)]);
}

#[tokio::test]
async fn whatsapp_locations_percent_encode_the_text() {
    let server = TestServer::start(&[]).await;
    whatsapp(
        &server,
        "ana",
        1,
        json!({"text": "Olá! Quero o item #12 & o brinde? 🎁\nObrigado 100%"}),
    )
    .await;
    let reply = click(&server, "ana", None).await;
    assert_eq!(
        location(&reply),
        "https://wa.me/5511987654301?text=Ol%C3%A1%21%20Quero%20o%20item%20%2312%20%26%20o%20brinde%3F%20%F0%9F%8E%81%0AObrigado%20100%25"
    );
    assert_eq!(reply.header("cache-control"), Some("private, no-store"));
    assert!(reply.header("set-cookie").is_none());
}

#[tokio::test]
async fn unknown_slugs_get_a_404_page_and_other_routes_are_not_shadowed() {
    let server = TestServer::start(&["--manual-clock"]).await;
    for path in ["/nosuchlink", "/v1", "/health-check", "/UPPER"] {
        let reply = click(&server, path.trim_start_matches('/'), None).await;
        assert_eq!(reply.status, 404, "{path}");
        assert_eq!(
            reply.header("content-type"),
            Some("text/html; charset=utf-8"),
            "{path}"
        );
        assert_eq!(reply.header("cache-control"), Some("private, no-store"));
    }
    let health = server.request(Method::GET, "/health", None, None).await;
    assert_eq!(
        (health.status.as_u16(), health.body),
        (200, json!({"status": "ok"}))
    );
    let clock = server.request(Method::GET, "/_dev/clock", None, None).await;
    assert_eq!(clock.status, 200, "{}", clock.body);
    let admin = server.request(Method::GET, "/v1/links", None, None).await;
    assert_eq!(admin.status, 401);
    assert_eq!(
        header(&admin, "content-type"),
        Some("application/problem+json")
    );
    let webhook = server
        .request(Method::GET, "/webhooks/whatsapp", None, None)
        .await;
    assert_ne!(
        header(&webhook, "content-type"),
        Some("text/html; charset=utf-8")
    );
}

fn error_fields(reply: &Reply) -> Vec<String> {
    assert_eq!(
        header(reply, "content-type"),
        Some("application/problem+json"),
        "{}",
        reply.body
    );
    reply.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn invalid_links_are_refused_naming_the_field() {
    let server = TestServer::start(&[]).await;
    attendants(&server).await;
    let cases = [
        (
            json!({"slug": "a", "type": "whatsapp", "phone": phone(1)}),
            400,
            "slug",
        ),
        (
            json!({"slug": "Loja", "type": "whatsapp", "phone": phone(1)}),
            400,
            "slug",
        ),
        (
            json!({"slug": "_dev", "type": "whatsapp", "phone": phone(1)}),
            400,
            "slug",
        ),
        (
            json!({"slug": "dora", "type": "whatsapp", "phone": "11987654321"}),
            422,
            "phone",
        ),
        (
            json!({"slug": "dora", "type": "whatsapp", "phone": phone(1), "colour": "red"}),
            400,
            "colour",
        ),
        (
            json!({"slug": "dora", "type": "whatsapp", "phone": phone(1), "text": "x".repeat(1001)}),
            400,
            "text",
        ),
        (
            json!({"slug": "dora", "type": "telegram", "phone": phone(1)}),
            400,
            "type",
        ),
        (
            json!({"slug": "dora", "type": "whatsapp", "phone": phone(1), "preview": {"image_url": "http://x.example.com/a.png"}}),
            400,
            "preview.image_url",
        ),
        (
            json!({"slug": "dora", "type": "whatsapp", "phone": phone(1), "hours": {"time_zone": "Mars/Olympus"}}),
            400,
            "hours.time_zone",
        ),
        (
            json!({"slug": "loja", "type": "rotator", "members": [{"link": "ana", "weight": 0}]}),
            400,
            "members[0].weight",
        ),
        (
            json!({"slug": "loja", "type": "rotator", "members": [{"link": "ana", "weight": 101}]}),
            400,
            "members[0].weight",
        ),
        (
            json!({"slug": "loja", "type": "rotator", "members": [{"link": "ana"}], "sticky": true, "sticky_days": 0}),
            400,
            "sticky_days",
        ),
        (
            json!({"slug": "loja", "type": "rotator", "members": [{"link": "ana"}], "when_closed": {"type": "redirect", "url": "http://example.com"}}),
            400,
            "when_closed.url",
        ),
        (
            json!({"slug": "loja", "type": "rotator", "members": [{"link": "ana"}], "when_closed": {"type": "later"}}),
            400,
            "when_closed.type",
        ),
        (
            json!({"slug": "loja", "type": "rotator", "members": []}),
            400,
            "members",
        ),
        (
            json!({"slug": "loja", "type": "rotator", "members": [{"link": "ana"}, {"link": "zed"}]}),
            422,
            "members[1].link",
        ),
    ];
    for (body, status, field) in cases {
        let reply = server.post("/v1/links", body.clone()).await;
        assert_eq!(reply.status, status, "{body}: {}", reply.body);
        assert_eq!(error_fields(&reply), [field], "{body}");
    }
    // A reserved slug is taken for good: a conflict, like a slug another link holds.
    for slug in ["health", "webhooks", "v1", "console"] {
        let body = json!({"slug": slug, "type": "whatsapp", "phone": phone(1)});
        let reply = server.post("/v1/links", body).await;
        assert_eq!(reply.status, 409, "{slug}: {}", reply.body);
    }
    // `/console` is the console's page, never a click.
    let console = server.get("/console").await;
    assert_eq!(console.status, 200);
    assert!(console.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));

    // A rotator cannot contain a rotator.
    rotator(&server, "loja", json!([{"link": "ana"}]), json!({})).await;
    let nested = server
        .post(
            "/v1/links",
            json!({"slug": "loja2", "type": "rotator", "members": [{"link": "bia"}, {"link": "loja"}]}),
        )
        .await;
    assert_eq!(nested.status, 422, "{}", nested.body);
    assert_eq!(error_fields(&nested), ["members[1].link"]);
}

#[tokio::test]
async fn slugs_are_unique_across_tenants_and_other_tenants_see_404() {
    let server = TestServer::start(&[]).await;
    attendants(&server).await;
    rotator(&server, "mystore", json!([{"link": "ana"}]), json!({})).await;
    let other = server.token_for("other-tenant", Role::Admin);
    let taken = server
        .request(
            Method::POST,
            "/v1/links",
            Some(&other),
            Some(json!({"slug": "ana", "type": "whatsapp", "phone": phone(9)})),
        )
        .await;
    assert_eq!(taken.status, 409, "{}", taken.body);
    for (method, path) in [
        (Method::GET, "/v1/links/mystore"),
        (Method::DELETE, "/v1/links/mystore"),
        (Method::GET, "/v1/links/mystore/stats"),
        (Method::GET, "/v1/links/mystore/qr.svg"),
    ] {
        let reply = server.request(method, path, Some(&other), None).await;
        assert_eq!(reply.status, 404, "{path}: {}", reply.body);
    }
    let put = server
        .request(
            Method::PUT,
            "/v1/links/ana",
            Some(&other),
            Some(json!({"phone": phone(9)})),
        )
        .await;
    assert_eq!(put.status, 404);
    // Nor may another tenant use this tenant's links as members.
    let borrowed = server
        .request(
            Method::POST,
            "/v1/links",
            Some(&other),
            Some(json!({"slug": "theirs", "type": "rotator", "members": [{"link": "ana"}]})),
        )
        .await;
    assert_eq!(borrowed.status, 422, "{}", borrowed.body);
    let listed = server
        .request(Method::GET, "/v1/links", Some(&other), None)
        .await;
    assert_eq!(listed.body, json!({"items": [], "next_cursor": null}));

    let viewer = server.token_for("acme", Role::Viewer);
    let read = server
        .request(Method::GET, "/v1/links/mystore", Some(&viewer), None)
        .await;
    assert_eq!(read.status, 200);
    let write = server
        .request(Method::DELETE, "/v1/links/mystore", Some(&viewer), None)
        .await;
    assert_eq!(write.status, 403);
}

#[tokio::test]
async fn links_are_read_listed_replaced_and_deleted() {
    let server = TestServer::start(&[]).await;
    let created = whatsapp(&server, "ana", 1, json!({"text": "Oi"})).await;
    assert_eq!(created["type"], "whatsapp");
    assert_eq!(created["phone"], phone(1));
    assert_eq!(created["text"], "Oi");
    assert_eq!(created["url"], url(&server, "/ana"));
    whatsapp(&server, "bia", 2, json!({})).await;
    whatsapp(&server, "cai", 3, json!({})).await;
    let mystore = rotator(
        &server,
        "mystore",
        json!([{"link": "ana"}, {"link": "bia", "weight": 2}]),
        json!({"sticky": true, "preview": {"title": "Loja"}}),
    )
    .await;
    assert_eq!(
        mystore["members"],
        json!([{"link": "ana", "weight": 1, "enabled": true}, {"link": "bia", "weight": 2, "enabled": true}])
    );
    assert_eq!(mystore["sticky_days"], 30);
    assert_eq!(
        mystore["when_closed"],
        json!({"type": "page", "message": ""})
    );

    // Pagination in slug order.
    let first = server.get("/v1/links?limit=3").await.ok();
    let slugs: Vec<&str> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["ana", "bia", "cai"]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = server
        .get(&format!("/v1/links?limit=3&cursor={cursor}"))
        .await
        .ok();
    assert_eq!(second["items"][0]["slug"], "mystore");
    assert_eq!(second["next_cursor"], Value::Null);

    // Replacing a member changes where the rotator sends customers.
    let replaced = server
        .put("/v1/links/ana", json!({"phone": phone(7), "text": "Olá"}))
        .await;
    assert_eq!(replaced.status, 200, "{}", replaced.body);
    assert_eq!(replaced.body["id"], created["id"]);
    // Weights 1 and 2: of three clicks, one goes to ana.
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(location(&click(&server, "mystore", None).await));
    }
    seen.sort();
    assert_eq!(seen, [wa(2), wa(2), format!("{}?text=Ol%C3%A1", wa(7))]);

    // Slug and type are fixed: a replacement that would change them, or that brings the other
    // type's fields, conflicts with the stored link.
    let moved = server
        .put("/v1/links/ana", json!({"slug": "anna", "phone": phone(1)}))
        .await;
    assert_eq!(moved.status, 409, "{}", moved.body);
    let retyped = server
        .put(
            "/v1/links/mystore",
            json!({"type": "whatsapp", "phone": phone(1)}),
        )
        .await;
    assert_eq!(retyped.status, 409, "{}", retyped.body);
    let foreign = server
        .put("/v1/links/mystore", json!({"phone": phone(1)}))
        .await;
    assert_eq!(foreign.status, 409, "{}", foreign.body);

    // A rotator's members can change; the link keeps its id.
    let swapped = server
        .put("/v1/links/mystore", json!({"members": [{"link": "cai"}]}))
        .await;
    assert_eq!(swapped.status, 200, "{}", swapped.body);
    assert_eq!(swapped.body["id"], mystore["id"]);
    assert_eq!(swapped.body["sticky"], false);
    assert_eq!(location(&click(&server, "mystore", None).await), wa(3));

    // A member in use cannot be deleted; the error names the rotator.
    let in_use = server.delete("/v1/links/cai").await;
    assert_eq!(in_use.status, 409);
    assert!(in_use.body["detail"].as_str().unwrap().contains("mystore"));
    assert_eq!(server.delete("/v1/links/ana").await.status, 204);
    assert_eq!(server.get("/v1/links/ana").await.status, 404);
    assert_eq!(click(&server, "ana", None).await.status, 404);
    assert_eq!(server.delete("/v1/links/mystore").await.status, 204);
    assert_eq!(server.delete("/v1/links/cai").await.status, 204);
    // The slug is free again.
    whatsapp(&server, "cai", 3, json!({})).await;
}

#[tokio::test]
async fn stats_default_to_the_last_30_days_and_validate_dates() {
    let server = TestServer::start(&[]).await;
    whatsapp(&server, "ana", 1, json!({})).await;
    click(&server, "ana", None).await;
    let stats = server.get("/v1/links/ana/stats").await.ok();
    let by_day = stats["by_day"].as_array().unwrap();
    assert_eq!(by_day.len(), 30);
    let today = chrono::Utc::now().date_naive().to_string();
    assert_eq!(by_day[29]["date"], today);
    assert_eq!(by_day[29]["human"], 1);
    assert_eq!(stats["clicks"]["human"], 1);
    assert_eq!(stats["members"], json!([]));

    let bad = server.get("/v1/links/ana/stats?from=yesterday").await;
    assert_eq!(
        (bad.status.as_u16(), error_fields(&bad)),
        (400, vec!["from".to_string()])
    );
    let reversed = server
        .get("/v1/links/ana/stats?from=2030-02-01&to=2030-01-01")
        .await;
    assert_eq!(reversed.status, 422, "well-formed dates, impossible span");
    let long = server
        .get("/v1/links/ana/stats?from=2020-01-01&to=2030-01-01")
        .await;
    assert_eq!(long.status, 422);
    let empty = all_stats(&server, "ana", "2000-01-01", "2000-01-01").await;
    assert_eq!(empty["clicks"], json!({"human": 0, "bot": 0, "closed": 0}));
}

#[tokio::test]
async fn qr_codes_encode_the_public_url() {
    let server = TestServer::start(&["--public-base-url", "https://go.example.com/"]).await;
    whatsapp(&server, "ana", 1, json!({})).await;
    let link = server.get("/v1/links/ana").await.ok();
    assert_eq!(link["url"], "https://go.example.com/ana");
    let qr = read(
        server
            .client
            .get(url(&server, "/v1/links/ana/qr.svg"))
            .bearer_auth(&server.token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(qr.status, 200);
    assert_eq!(qr.header("content-type"), Some("image/svg+xml"));
    assert!(qr.body.contains("<svg"), "{}", qr.body);
    assert_eq!(server.get("/v1/links/nobody/qr.svg").await.status, 404);
}
