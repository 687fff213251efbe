//! Per-number pacing through the real Cloud API client: 1,000 sends due at once on a number
//! limited to 80 messages/s reach a stand-in Graph API that enforces that rate as Cloud API does
//! (error 130429 above it) at no more than 80 in any sliding second, each exactly once, and none
//! is throttled.
//!
//! Its own binary: it counts arrivals per second, so it runs alone rather than beside the other
//! scenarios on the same cores.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ritmo_e2e::graph::Graph;
use ritmo_e2e::TestServer;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_due_sends_keep_to_eighty_per_second_and_arrive_exactly_once() {
    let graph = Graph::start(&[("1098765432", 80)]).await;
    let s = TestServer::start(&["--whatsapp-base-url", &graph.url]).await;
    let channel = s
        .post(
            "/v1/channels",
            json!({"name": "Loja", "phone_number_id": "1098765432", "waba_id": "2098765432",
                   "access_token": "t", "messages_per_second": 80}),
        )
        .await
        .ok();
    let sequence = s.post("/v1/sequences", json!({"name": "Aviso"})).await.ok();
    let id = sequence["id"].as_str().unwrap();
    s.post(
        &format!("/v1/sequences/{id}/steps"),
        json!({"channel_id": channel["id"], "action": {"type": "template", "name": "aviso", "language": "pt_BR"},
               "delay": {"amount": 0, "unit": "minutes"}}),
    )
    .await
    .ok();
    s.post(&format!("/v1/sequences/{id}/activate"), json!({}))
        .await
        .ok();
    let contacts: Vec<Value> = (0..1000)
        .map(|i| json!({"phone": format!("+55119{:08}", 10_000_000 + i)}))
        .collect();
    s.post(
        &format!("/v1/sequences/{id}/enrollments"),
        json!({"contacts": contacts}),
    )
    .await
    .ok();

    let deadline = Instant::now() + Duration::from_secs(60);
    while graph.sent().iter().filter(|r| r.accepted).count() < 1000 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let sent = graph.sent();
    let mut accepted: HashMap<&str, usize> = HashMap::new();
    for r in sent.iter().filter(|r| r.accepted) {
        *accepted.entry(r.to.as_str()).or_default() += 1;
    }
    assert_eq!(accepted.len(), 1000, "every contact got its message");
    assert!(accepted.values().all(|n| *n == 1), "nobody got it twice");
    let throttled = sent.iter().filter(|r| !r.accepted).count();
    assert_eq!(throttled, 0, "sends answered 130429");
    let busiest = graph.busiest_second("1098765432");
    assert!(
        busiest <= 80,
        "{busiest} requests reached the Graph API within one second"
    );
    let stats = s.get(&format!("/v1/sequences/{id}/stats")).await.ok();
    assert_eq!(stats["steps"][0]["sent"], 1000);
}
