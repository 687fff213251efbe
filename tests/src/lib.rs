//! End-to-end harness: starts `ritmo-local` (the same `start` its binary calls, with its own
//! command-line flags) on a free port and talks HTTP to it. With `RITMO_E2E_DYNAMODB_ENDPOINT`
//! set, each server uses the DynamoDB store on that endpoint, in a table of its own.

pub mod capacity;
pub mod counting;
pub mod faults;
pub mod graph;
pub mod meta;
pub mod metering;
mod proxy;

use clap::Parser;
use reqwest::{Method, StatusCode};
use ritmo_core::common::tenant::Role;
use serde_json::{json, Value};

static SERVERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    pub secret: String,
    /// Admin token of tenant `acme`.
    pub token: String,
    running: Runtime,
}

/// Where the server runs: in this process, or as a `ritmo-local` child process that can be killed.
enum Runtime {
    InProcess(#[allow(dead_code)] ritmo_local::Running),
    Process(std::process::Child),
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Runtime::Process(child) = self {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A response: status, headers and the body as JSON (Null when it is not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn ok(self) -> Value {
        assert!(
            self.status.is_success(),
            "expected success, got {}: {}",
            self.status,
            self.body
        );
        self.body
    }
}

impl TestServer {
    /// Starts a server with these extra flags (`--port 0` and a known JWT secret are added).
    pub async fn start(flags: &[&str]) -> Self {
        Self::start_with(flags, true).await
    }

    async fn start_with(flags: &[&str], table_per_server: bool) -> Self {
        let secret = format!("test-secret-{}", std::process::id());
        let mut args = vec![
            "ritmo-local",
            "--port",
            "0",
            "--jwt-secret",
            &secret,
            "--tenant",
            "acme",
        ];
        args.extend_from_slice(flags);
        // With RITMO_E2E_DYNAMODB_ENDPOINT set, every server stores in its own table there.
        let endpoint = std::env::var("RITMO_E2E_DYNAMODB_ENDPOINT")
            .ok()
            .filter(|_| table_per_server);
        let table = format!(
            "ritmo-e2e-{}-{}",
            std::process::id(),
            SERVERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        if let Some(endpoint) = &endpoint {
            args.extend_from_slice(&["--dynamodb-endpoint", endpoint, "--dynamodb-table", &table]);
        }
        let cli = ritmo_local::Cli::try_parse_from(args).expect("valid flags");
        let running = ritmo_local::start(cli).await.expect("ritmo-local starts");
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(64)
            .build()
            .unwrap();
        Self {
            base: running.base_url(),
            client,
            token: running.admin_token.clone(),
            secret,
            running: Runtime::InProcess(running),
        }
    }

    /// The `ritmo-local` binary at `bin` as a child process on the DynamoDB store at `endpoint`,
    /// in `table` (which other servers may share), with these extra flags.
    pub async fn spawn_process(bin: &str, flags: &[&str], endpoint: &str, table: &str) -> Self {
        use std::io::BufRead;
        let secret = format!("test-secret-{}", std::process::id());
        let mut child = std::process::Command::new(bin)
            .args(["--port", "0", "--jwt-secret", &secret, "--tenant", "acme"])
            .args(["--dynamodb-endpoint", endpoint, "--dynamodb-table", table])
            .args(flags)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("ritmo-local starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Reads to the end, so that the child never blocks on a full pipe.
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line);
            }
        });
        let (mut base, mut token) = (None, None);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while base.is_none() || token.is_none() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = rx
                .recv_timeout(left)
                .expect("ritmo-local prints its address and token");
            if let Some(url) = line.strip_prefix("Ritmo local server listening on ") {
                base = Some(url.trim().to_string());
            }
            if let Some(t) = line.strip_prefix("export RITMO_TOKEN=") {
                token = Some(t.trim().to_string());
            }
        }
        Self {
            base: base.unwrap(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            token: token.unwrap(),
            secret,
            running: Runtime::Process(child),
        }
    }

    /// Kills the child process with SIGKILL, as a crashed instance dies: no clean-up runs.
    pub fn kill(&mut self) {
        match &mut self.running {
            Runtime::Process(child) => {
                child.kill().expect("SIGKILL");
                child.wait().expect("the child is reaped");
            }
            Runtime::InProcess(_) => panic!("only a child process can be killed"),
        }
    }

    /// A server on the DynamoDB store at `endpoint`, in `table`, which other servers may share
    /// (as Lambda instances share the production table).
    pub async fn start_on_table(flags: &[&str], endpoint: &str, table: &str) -> Self {
        let mut flags = flags.to_vec();
        flags.extend_from_slice(&["--dynamodb-endpoint", endpoint, "--dynamodb-table", table]);
        Self::start_with(&flags, false).await
    }

    /// A server whose time moves only through `POST /_dev/clock`, set to `now`.
    pub async fn manual_at(now: &str) -> Self {
        let server = Self::start(&["--manual-clock"]).await;
        server.post("/_dev/clock", json!({"now": now})).await.ok();
        server
    }

    /// [`TestServer::manual_at`] on the in-memory store always, for scenarios sized beyond what
    /// the emulator serves in reasonable time.
    pub async fn manual_in_memory_at(now: &str) -> Self {
        let server = Self::start_with(&["--manual-clock"], false).await;
        server.post("/_dev/clock", json!({"now": now})).await.ok();
        server
    }

    pub fn token_for(&self, tenant: &str, role: Role) -> String {
        ritmo_http::auth::issue_hs256(
            self.secret.as_bytes(),
            tenant,
            role,
            chrono::Duration::hours(1),
        )
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap_or_default();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.request(Method::GET, path, Some(&self.token), None)
            .await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.request(Method::POST, path, Some(&self.token), Some(body))
            .await
    }

    /// Adds to sequence `id` a template step on `channel` for each `(template, delay amount,
    /// delay unit)`, in that order and in pt_BR, then activates the sequence.
    pub async fn activate_with_template_steps(
        &self,
        id: &str,
        channel: &Value,
        steps: &[(&str, u32, &str)],
    ) {
        for (template, amount, unit) in steps {
            self.post(
                &format!("/v1/sequences/{id}/steps"),
                json!({"channel_id": channel, "action": {"type": "template", "name": template, "language": "pt_BR"},
                       "delay": {"amount": amount, "unit": unit}}),
            )
            .await
            .ok();
        }
        self.post(&format!("/v1/sequences/{id}/activate"), json!({}))
            .await
            .ok();
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.request(Method::PUT, path, Some(&self.token), Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.request(Method::PATCH, path, Some(&self.token), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.request(Method::DELETE, path, Some(&self.token), None)
            .await
    }

    /// Takes the `202` of a request that started a job (`{"job_id"}`, `Location: /v1/jobs/{id}`)
    /// and polls the job until it is finished (the runner is in the server's process, whatever
    /// its clock); answers the finished job.
    pub async fn finish_job(&self, started: Reply) -> Value {
        assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
        let id = started.body["job_id"]
            .as_str()
            .expect("a job id")
            .to_string();
        let location = format!("/v1/jobs/{id}");
        assert_eq!(started.headers["location"], location.as_str());
        // Generous: on a loaded emulator a page of 200 takes a while.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
        loop {
            let job = self.get(&location).await.ok();
            if !matches!(job["status"].as_str(), Some("queued" | "running")) {
                return job;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "job {id} still unfinished: {job}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Moves the manual clock to `now`, firing every schedule due on the way.
    pub async fn clock_to(&self, now: &str) -> Value {
        self.post("/_dev/clock", json!({"now": now})).await.ok()
    }

    pub async fn advance(&self, seconds: i64) -> Value {
        self.post("/_dev/clock", json!({"advance_seconds": seconds}))
            .await
            .ok()
    }

    pub async fn outbox(&self) -> Vec<Value> {
        self.get("/_dev/outbox")
            .await
            .ok()
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub async fn schedules(&self) -> Vec<Value> {
        self.get("/_dev/schedules")
            .await
            .ok()
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}
