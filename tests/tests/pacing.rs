//! Per-number pacing through the real Cloud API client: 1,000 due sends on a number limited to
//! 80 messages/s reach a stand-in Graph API at no more than 80 in any second, each exactly once,
//! also while it answers 130429 (throttled) for a while.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::{get, post};
use axum::Json;
use ritmo_e2e::TestServer;
use serde_json::{json, Value};

#[derive(Default)]
struct Graph {
    requests: Mutex<Vec<(Instant, String, bool)>>,
}

const THROTTLED_FIRST: usize = 100;

async fn messages(
    State(graph): State<Arc<Graph>>,
    Json(body): Json<Value>,
) -> (axum::http::StatusCode, Json<Value>) {
    let to = body["to"].as_str().unwrap_or_default().to_string();
    let mut requests = graph.requests.lock().unwrap();
    let throttled = requests.len() < THROTTLED_FIRST;
    requests.push((Instant::now(), to.clone(), !throttled));
    if throttled {
        let error = json!({"error": {"message": "(#130429) Rate limit hit", "type": "OAuthException", "code": 130429,
                                     "error_data": {"messaging_product": "whatsapp", "details": "Cloud API message throughput has been reached."},
                                     "fbtrace_id": "A"}});
        (axum::http::StatusCode::BAD_REQUEST, Json(error))
    } else {
        let n = requests.len();
        (
            axum::http::StatusCode::OK,
            Json(
                json!({"messaging_product": "whatsapp", "messages": [{"id": format!("wamid.{n}")}]}),
            ),
        )
    }
}

async fn templates() -> Json<Value> {
    Json(
        json!({"data": [{"name": "aviso", "language": "pt_BR", "status": "APPROVED", "category": "UTILITY",
                          "components": [{"type": "BODY", "text": "Seu pedido saiu"}]}]}),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_due_sends_respect_eighty_per_second_and_arrive_exactly_once_despite_throttling()
{
    let graph = Arc::new(Graph::default());
    let app = axum::Router::new()
        .route("/v23.0/{phone_number_id}/messages", post(messages))
        .route("/v23.0/{waba_id}/message_templates", get(templates))
        .with_state(graph.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let graph_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let s = TestServer::start(&["--manual-clock", "--whatsapp-base-url", &graph_url]).await;
    s.post("/_dev/clock", json!({"now": "2026-11-23T13:00:00Z"}))
        .await
        .ok();
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

    // Every first try, then the retries of the throttled ones (30 s later on the manual clock).
    s.advance(0).await;
    s.advance(60).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while graph
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.2)
        .count()
        < 1000
        && Instant::now() < deadline
    {
        s.advance(60).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let requests = graph.requests.lock().unwrap().clone();
    let mut accepted: HashMap<&str, usize> = HashMap::new();
    for (_, to, ok) in &requests {
        if *ok {
            *accepted.entry(to.as_str()).or_default() += 1;
        }
    }
    assert_eq!(accepted.len(), 1000, "every contact got its message");
    assert!(accepted.values().all(|n| *n == 1), "nobody got it twice");
    assert_eq!(requests.len(), 1000 + THROTTLED_FIRST);

    let times: Vec<Instant> = requests.iter().map(|r| r.0).collect();
    let mut busiest = 0;
    for (i, start) in times.iter().enumerate() {
        let in_a_second = times[i..]
            .iter()
            .take_while(|t| t.duration_since(*start) < Duration::from_secs(1))
            .count();
        busiest = busiest.max(in_a_second);
    }
    assert!(
        busiest <= 80,
        "{busiest} requests reached the Graph API within one second"
    );
    let enrolled = s.get(&format!("/v1/sequences/{id}/stats")).await.ok();
    assert_eq!(enrolled["steps"][0]["sent"], 1000);
}
