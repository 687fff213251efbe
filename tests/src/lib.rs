//! Test harness: starts `ritmo-local` in-process on a free port and talks HTTP to it.

use clap::Parser;
use ritmo_core::tenant::Role;
use serde_json::Value;

/// The token secret every test server uses, so tests can mint their own tokens.
pub const JWT_SECRET: &str = "e2e-test-secret-0123456789abcdef";

/// A running local server and a client for it. The client never follows redirects, so tests see
/// each `302` and its `Location`.
pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    pub admin_token: String,
    pub jwt_secret: String,
    pub tenant: String,
    running: ritmo_local::Running,
}

/// A finished response, body read.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl TestServer {
    /// Starts a server with `--port 0 --jwt-secret JWT_SECRET` and `args` (e.g. `--manual-clock`).
    pub async fn start(args: &[&str]) -> Self {
        let mut argv = vec!["ritmo-local", "--port", "0", "--jwt-secret", JWT_SECRET];
        argv.extend_from_slice(args);
        let cli = ritmo_local::Cli::try_parse_from(&argv).expect("valid arguments");
        let tenant = cli.tenant.clone();
        let running = ritmo_local::start(cli).await.expect("server starts");
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(128)
            .build()
            .expect("http client");
        Self {
            base: running.base_url(),
            client,
            admin_token: running.admin_token.clone(),
            jwt_secret: running.jwt_secret.clone(),
            tenant,
            running,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A token for any tenant and role, signed with the server's secret.
    pub fn token(&self, tenant: &str, role: Role) -> String {
        ritmo_http::auth::issue_hs256(
            self.jwt_secret.as_bytes(),
            tenant,
            role,
            chrono::Duration::hours(1),
        )
    }

    /// Sends a request, with a bearer token and a JSON body when given.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        read(request.send().await.expect("request sent")).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(reqwest::Method::GET, path, Some(&self.admin_token), None)
            .await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(
            reqwest::Method::POST,
            path,
            Some(&self.admin_token),
            Some(body),
        )
        .await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        self.send(
            reqwest::Method::PUT,
            path,
            Some(&self.admin_token),
            Some(body),
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(reqwest::Method::DELETE, path, Some(&self.admin_token), None)
            .await
    }

    /// Moves the manual clock (`--manual-clock`) to `now` (RFC 3339).
    pub async fn set_clock(&self, now: &str) {
        let reply = self
            .send(
                reqwest::Method::POST,
                "/_dev/clock",
                None,
                Some(&serde_json::json!({ "now": now })),
            )
            .await;
        assert_eq!(reply.status, 200, "clock move: {}", reply.body);
    }
}

/// Reads a response whole.
pub async fn read(response: reqwest::Response) -> Reply {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.text().await.expect("response body");
    Reply {
        status,
        headers,
        body,
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.running.server.abort();
    }
}
