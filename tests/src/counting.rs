//! A reverse proxy in front of an AWS endpoint that counts the requests going through it: every
//! request is forwarded as it came (method, path and query, headers but `Host`, body) and the
//! answer relayed as it went (status, headers, body). DynamoDB requests are counted by
//! operation, read from `X-Amz-Target` (`DynamoDB_20120810.UpdateItem` → `UpdateItem`); any
//! other request under its whole target, or `other` without one. A `ritmo-local` runtime started
//! with `--dynamodb-endpoint <proxy url>` sends all its store requests through it, so what a
//! scenario costs in DynamoDB requests is counted where the table is served.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::faults::{Counters, Faults, Injected, Injector};

/// The target prefix of DynamoDB's JSON protocol.
pub(crate) const DYNAMODB_PREFIX: &str = "DynamoDB_20120810.";

/// Requests are buffered whole; DynamoDB's own limits are far below this.
pub(crate) const MAX_BODY: usize = 64 * 1024 * 1024;

#[derive(Default)]
struct Counts {
    by_operation: BTreeMap<String, usize>,
    dynamodb: usize,
}

#[derive(Clone)]
struct Shared {
    upstream: String,
    client: reqwest::Client,
    counts: Arc<Mutex<Counts>>,
    faults: Injector,
}

pub struct CountingProxy {
    /// Where to send requests instead of the upstream, `http://127.0.0.1:<port>`.
    pub url: String,
    counts: Arc<Mutex<Counts>>,
    injected: Arc<Counters>,
    server: tokio::task::JoinHandle<()>,
}

impl CountingProxy {
    /// Serves on a free port of 127.0.0.1 and forwards to `upstream` (`http://host:port`).
    pub async fn start(upstream: &str) -> Self {
        Self::start_with_faults(upstream, Faults::default()).await
    }

    /// As [`CountingProxy::start`], answering a share of DynamoDB requests with `faults`
    /// instead of forwarding them (counted as requests all the same: a retry is a request).
    pub async fn start_with_faults(upstream: &str, faults: Faults) -> Self {
        let injector = Injector {
            faults,
            ..Injector::default()
        };
        let injected = injector.counters.clone();
        let counts = Arc::new(Mutex::new(Counts::default()));
        let shared = Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            client: crate::proxy::upstream_client(),
            counts: counts.clone(),
            faults: injector,
        };
        let app = axum::Router::new().fallback(forward).with_state(shared);
        let (url, server) = crate::proxy::serve(app).await;
        Self {
            url,
            counts,
            injected,
            server,
        }
    }

    /// The faults injected so far.
    pub fn injected(&self) -> Injected {
        self.injected.snapshot()
    }

    /// Requests so far by operation (DynamoDB) or target (`other` for requests without one).
    pub fn counts(&self) -> BTreeMap<String, usize> {
        self.counts.lock().unwrap().by_operation.clone()
    }

    /// DynamoDB requests so far.
    pub fn total(&self) -> usize {
        self.counts.lock().unwrap().dynamodb
    }

    /// Starts counting from zero.
    pub fn reset(&self) {
        *self.counts.lock().unwrap() = Counts::default();
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Headers of one connection, not of the message: never forwarded either way (the length is
/// set again for the buffered body).
pub(crate) fn hop_by_hop(name: &HeaderName) -> bool {
    [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::TE,
        header::TRAILER,
        header::UPGRADE,
        header::PROXY_AUTHORIZATION,
        header::PROXY_AUTHENTICATE,
        header::CONTENT_LENGTH,
        HeaderName::from_static("keep-alive"),
    ]
    .contains(name)
}

/// Counts the request; its DynamoDB operation, if it is one.
fn count(counts: &Mutex<Counts>, headers: &HeaderMap) -> Option<String> {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut counts = counts.lock().unwrap();
    let operation = target
        .as_deref()
        .and_then(|t| t.strip_prefix(DYNAMODB_PREFIX))
        .map(str::to_string);
    if operation.is_some() {
        counts.dynamodb += 1;
    }
    let key = operation
        .clone()
        .or(target)
        .unwrap_or_else(|| "other".to_string());
    *counts.by_operation.entry(key).or_default() += 1;
    operation
}

async fn forward(State(shared): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let operation = count(&shared.counts, &parts.headers);
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(body) => body,
        Err(error) => {
            return (StatusCode::BAD_REQUEST, format!("request body: {error}")).into_response()
        }
    };
    if let Some(operation) = operation {
        if let Some(fault) = shared.faults.answer(&operation, &body).await {
            return fault;
        }
    }
    match send(&shared.client, &shared.upstream, &parts, body).await {
        Ok(answer) => answer.into_response(),
        Err(error) => error.into_response(),
    }
}

/// An upstream's answer, buffered: what goes back to the caller as it came.
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut response = Response::new(Body::from(self.body));
        *response.status_mut() = self.status;
        for (name, value) in &self.headers {
            if !hop_by_hop(name) {
                response.headers_mut().append(name, value.clone());
            }
        }
        response
    }
}

/// Why a request could not be relayed: a 502 to the caller.
pub(crate) struct Unreachable(String);

impl IntoResponse for Unreachable {
    fn into_response(self) -> Response {
        (StatusCode::BAD_GATEWAY, self.0).into_response()
    }
}

/// Sends a request as it came (method, path and query, headers but `Host` and the hop-by-hop
/// ones) with `body` to `upstream`, and buffers the answer.
pub(crate) async fn send(
    client: &reqwest::Client,
    upstream: &str,
    parts: &axum::http::request::Parts,
    body: Bytes,
) -> Result<Answer, Unreachable> {
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut request = client
        .request(parts.method.clone(), format!("{upstream}{path}"))
        .body(body);
    for (name, value) in &parts.headers {
        if name != header::HOST && !hop_by_hop(name) {
            request = request.header(name, value);
        }
    }
    let answer = request
        .send()
        .await
        .map_err(|error| Unreachable(format!("upstream: {error}")))?;
    let status = answer.status();
    let headers = answer.headers().clone();
    let body = answer
        .bytes()
        .await
        .map_err(|error| Unreachable(format!("upstream body: {error}")))?;
    Ok(Answer {
        status,
        headers,
        body,
    })
}
