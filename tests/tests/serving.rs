//! How `ritmo-local` serves HTTP: by default the main runtime serves the router, clicks
//! included; with `--http-per-cpu` its event loops (threads `ritmo-http-<n>`) serve, clicks
//! answered ahead of the router. Both answer a click, `/health` and the API alike.
//!
//! Its own binary: it reads this process's thread names, which another test's server would add
//! to.

use ritmo_e2e::TestServer;
use serde_json::json;

const BROWSER: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";

/// `GET /{slug}` as a person's browser.
async fn click(server: &TestServer, slug: &str) -> reqwest::Response {
    server
        .client
        .get(format!("{}/{slug}", server.base))
        .header("user-agent", BROWSER)
        .send()
        .await
        .unwrap()
}

/// A click on a new link goes to its chat; `/health`, a one-segment static route, and a `/v1`
/// route are answered by their own handlers; an unknown slug gets the 404 page.
async fn answers_clicks_health_and_the_api(server: &TestServer, slug: &str) {
    let created = server
        .post(
            "/v1/links",
            json!({"slug": slug, "type": "whatsapp", "phone": "+5511987654301"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);

    for _ in 0..3 {
        let click = click(server, slug).await;
        assert_eq!(click.status(), 302);
        assert_eq!(click.headers()["location"], "https://wa.me/5511987654301");
        assert_eq!(click.headers()["cache-control"], "private, no-store");
    }

    let health = server
        .request(reqwest::Method::GET, "/health", None, None)
        .await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body, json!({"status": "ok"}));

    let links = server.get("/v1/links").await.ok();
    let slugs: Vec<&str> = links["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|link| link["slug"].as_str())
        .collect();
    assert_eq!(slugs, [slug]);

    let unknown = click(server, "no-such-link").await;
    assert_eq!(unknown.status(), 404);
}

/// The names of this process's threads that are HTTP event loops (none where they cannot be
/// read).
fn event_loops() -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_string())
        .filter(|name| name.starts_with("ritmo-http-"))
        .collect()
}

#[tokio::test]
async fn the_default_server_and_the_per_cpu_loops_answer_alike() {
    let server = TestServer::start(&[]).await;
    answers_clicks_health_and_the_api(&server, "ana").await;
    assert_eq!(
        event_loops(),
        Vec::<String>::new(),
        "no event loop by default"
    );
    drop(server);

    let server = TestServer::start(&["--http-per-cpu", "--http-threads", "2"]).await;
    answers_clicks_health_and_the_api(&server, "bia").await;
    if cfg!(target_os = "linux") {
        let mut loops = event_loops();
        loops.sort();
        assert_eq!(loops, ["ritmo-http-0", "ritmo-http-1"]);
    }
}
