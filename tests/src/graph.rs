//! A stand-in Graph API that enforces each number's throughput as Cloud API does: a send to a
//! number that already had `rate` accepted sends in the last second is answered with error
//! 130429 (the shape of Meta's error response), and every request is recorded with its arrival
//! instant.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Json;
use serde_json::{json, Value};

/// One request to `/{phone_number_id}/messages`.
#[derive(Debug, Clone)]
pub struct Sent {
    pub at: Instant,
    pub phone_number_id: String,
    pub to: String,
    pub accepted: bool,
}

#[derive(Default)]
struct State_ {
    sent: Mutex<Vec<Sent>>,
}

pub struct Graph {
    pub url: String,
    state: Arc<State_>,
    rates: Arc<HashMap<String, usize>>,
}

/// Numbers whose sends are recorded and never answered (a sender waiting on them can only die).
type Hanging = Arc<std::collections::HashSet<String>>;

impl Graph {
    /// Serves on a free port; `rates` are the numbers' messages per second (phone number id →
    /// rate); other numbers are not limited.
    pub async fn start(rates: &[(&str, usize)]) -> Self {
        Self::start_hanging(rates, &[]).await
    }

    /// [`Graph::start`], with the sends to the `hanging` numbers recorded and never answered.
    pub async fn start_hanging(rates: &[(&str, usize)], hanging: &[&str]) -> Self {
        let state = Arc::new(State_::default());
        let rates: Arc<HashMap<String, usize>> =
            Arc::new(rates.iter().map(|(id, r)| (id.to_string(), *r)).collect());
        let hanging: Hanging = Arc::new(hanging.iter().map(|id| id.to_string()).collect());
        let app = axum::Router::new()
            .route("/v23.0/{phone_number_id}/messages", post(messages))
            .route("/v23.0/{waba_id}/message_templates", get(templates))
            .with_state((state.clone(), rates.clone(), hanging));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, state, rates }
    }

    pub fn sent(&self) -> Vec<Sent> {
        self.state.sent.lock().unwrap().clone()
    }

    /// The most requests to `phone_number_id` that arrived within any one second (sliding).
    pub fn busiest_second(&self, phone_number_id: &str) -> usize {
        let times: Vec<Instant> = self
            .sent()
            .iter()
            .filter(|s| s.phone_number_id == phone_number_id)
            .map(|s| s.at)
            .collect();
        (0..times.len())
            .map(|i| {
                times[i..]
                    .iter()
                    .take_while(|t| t.duration_since(times[i]) < Duration::from_secs(1))
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    pub fn rate_of(&self, phone_number_id: &str) -> Option<usize> {
        self.rates.get(phone_number_id).copied()
    }
}

type Shared = (Arc<State_>, Arc<HashMap<String, usize>>, Hanging);

async fn messages(
    State((state, rates, hanging)): State<Shared>,
    Path(phone_number_id): Path<String>,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let to = body["to"].as_str().unwrap_or_default().to_string();
    let now = Instant::now();
    if hanging.contains(&phone_number_id) {
        state.sent.lock().unwrap().push(Sent {
            at: now,
            phone_number_id,
            to,
            accepted: true,
        });
        return std::future::pending().await;
    }
    let mut sent = state.sent.lock().unwrap();
    let in_the_last_second = sent
        .iter()
        .rev()
        .take_while(|s| now.duration_since(s.at) < Duration::from_secs(1))
        .filter(|s| s.accepted && s.phone_number_id == phone_number_id)
        .count();
    let accepted = rates
        .get(&phone_number_id)
        .is_none_or(|rate| in_the_last_second < *rate);
    sent.push(Sent {
        at: now,
        phone_number_id,
        to: to.clone(),
        accepted,
    });
    let n = sent.len();
    drop(sent);
    if accepted {
        (
            StatusCode::OK,
            Json(json!({
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to.trim_start_matches('+')}],
                "messages": [{"id": format!("wamid.HBgM{n:010}")}]
            })),
        )
    } else {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": {
                "message": "(#130429) Rate limit hit",
                "type": "OAuthException",
                "code": 130429,
                "error_data": {"messaging_product": "whatsapp",
                               "details": "Cloud API message throughput has been reached."},
                "fbtrace_id": "AbCdEf"
            }})),
        )
    }
}

async fn templates() -> Json<Value> {
    Json(json!({"data": [{
        "name": "aviso", "language": "pt_BR", "status": "APPROVED", "category": "UTILITY",
        "id": "1234567890",
        "components": [{"type": "BODY", "text": "Seu pedido saiu"}]
    }], "paging": {"cursors": {"before": "MAZDZD", "after": "MjQZD"}}}))
}
