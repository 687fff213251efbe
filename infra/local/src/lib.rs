//! `ritmo-local`: all of Ritmo in one process with no AWS and no network — in-memory store,
//! in-process scheduler, outbox messenger — serving the same routes as the Lambda functions,
//! plus the API's OpenAPI document at `/openapi.json` and the `/_dev` routes that exist only
//! here. With `--dynamodb-endpoint` the store is the production DynamoDB store on that endpoint
//! (an emulator, or DynamoDB Local).

mod dev;
mod direct;
mod serve;
mod uploads;

use ritmo_core::delivery::reconcile::ReconcileSettings;
use std::net::SocketAddr;
use std::sync::Arc;

use clap::Parser;
use rand::RngCore;
use ritmo_app::local::{Local, LocalAdapters};
use ritmo_app::{Base, Stores};
use ritmo_aws::{CursorKey, DynamoStore, StoreConfig};
use ritmo_core::common::clock::{Clock, ManualClock, SystemClock};
use ritmo_core::common::ids::UlidGen;
use ritmo_core::common::net::HostResolver;
use ritmo_core::common::secret::Secret;
use ritmo_core::common::tenant::Role;
use ritmo_core::delivery::ports::NoMetrics;
use ritmo_core::delivery::ports::{Messenger, StepRunner};
use ritmo_core::enrollments::pricing::RateCard;
use ritmo_core::links::{PublicBase, StickyKey};
use ritmo_http::{Auth, WebhookSettings};
use ritmo_memory::{DirImportFiles, DirUploads, LocalScheduler};
use ritmo_whatsapp::outbox::Outbox;
use ritmo_whatsapp::{WhatsApp, WhatsAppConfig};

#[derive(Debug, Clone, Parser)]
#[command(
    name = "ritmo-local",
    version,
    about = "Run Ritmo on one machine: no AWS, no network"
)]
pub struct Cli {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, env = "RITMO_PORT", default_value_t = 3000)]
    pub port: u16,
    /// HS256 secret for admin tokens (default: random, printed at start).
    #[arg(long, env = "RITMO_JWT_SECRET")]
    pub jwt_secret: Option<String>,
    /// Time moves only through `POST /_dev/clock`.
    #[arg(long, env = "RITMO_MANUAL_CLOCK")]
    pub manual_clock: bool,
    /// Tenant of the printed admin token.
    #[arg(long, env = "RITMO_TENANT", default_value = "demo")]
    pub tenant: String,
    /// Send through the WhatsApp Cloud API client to this Graph API base instead of the outbox.
    #[arg(long, env = "RITMO_WHATSAPP_BASE_URL")]
    pub whatsapp_base_url: Option<String>,
    /// Key of the `X-Hub-Signature-256` webhook signature.
    #[arg(long, env = "RITMO_WHATSAPP_APP_SECRET")]
    pub whatsapp_app_secret: Option<String>,
    /// Token of Meta's webhook verification handshake.
    #[arg(long, env = "RITMO_WHATSAPP_VERIFY_TOKEN")]
    pub whatsapp_verify_token: Option<String>,
    /// Base URL of the public redirect, used for link URLs and QR codes (default: this server's
    /// own `http://127.0.0.1:<port>`).
    #[arg(long, env = "RITMO_PUBLIC_BASE_URL")]
    pub public_base_url: Option<String>,
    /// A rate card (JSON: currency, price per template category and country calling code) for
    /// the estimated cost in sequence statistics.
    #[arg(long, env = "RITMO_RATE_CARD")]
    pub rate_card: Option<std::path::PathBuf>,
    /// Use this DynamoDB-compatible endpoint instead of the in-memory store (the table is
    /// created when missing; no AWS credentials needed).
    #[arg(long, env = "RITMO_DYNAMODB_ENDPOINT")]
    pub dynamodb_endpoint: Option<String>,
    /// The table on `--dynamodb-endpoint`.
    #[arg(long, env = "RITMO_DYNAMODB_TABLE", default_value = "ritmo-local")]
    pub dynamodb_table: String,
    /// With `--dynamodb-endpoint`: seal channels' access tokens and bots' secrets in the table
    /// with this KMS key on the same endpoint (an emulator's), as the stack does.
    #[arg(long, env = "RITMO_SECRETS_KEY_ID", requires = "dynamodb_endpoint")]
    pub secrets_key_id: Option<String>,
    /// Let bots be saved and called on this machine or a private network (a bot under
    /// development). Off by default, as in production.
    #[arg(long, env = "RITMO_ALLOW_PRIVATE_BOTS")]
    pub allow_private_bots: bool,
    /// The console signs users in with this OpenID Connect provider's authorization endpoint
    /// (authorization code with PKCE) instead of a pasted token; with the token endpoint and
    /// the client id. The provider's tokens must be HS256 with the `--jwt-secret`.
    #[arg(long, env = "RITMO_CONSOLE_AUTHORIZE_URL", requires_all = ["console_token_url", "console_client_id"])]
    pub console_authorize_url: Option<String>,
    #[arg(
        long,
        env = "RITMO_CONSOLE_TOKEN_URL",
        requires = "console_authorize_url"
    )]
    pub console_token_url: Option<String>,
    #[arg(
        long,
        env = "RITMO_CONSOLE_CLIENT_ID",
        requires = "console_authorize_url"
    )]
    pub console_client_id: Option<String>,
    /// Seconds between passes of the reconciler over overdue steps (0: none; with
    /// `--manual-clock`, passes run through `POST /_dev/reconcile` only).
    #[arg(long, env = "RITMO_RECONCILE_EVERY", default_value_t = 60)]
    pub reconcile_every: u64,
    /// Seconds a planned step may be overdue before the reconciler fires it again.
    #[arg(long, env = "RITMO_RECONCILE_GRACE", default_value_t = 600)]
    pub reconcile_grace: u32,
    /// Seconds a claimed step may wait for its outcome before it is recorded as `unknown`.
    #[arg(long, env = "RITMO_CLAIM_TIMEOUT", default_value_t = 900)]
    pub claim_timeout: u32,
    /// Serve HTTP on event loops, each a single-threaded runtime on its own thread that keeps a
    /// connection for its life, pinned one per CPU, with clicks (`GET /{slug}`) answered ahead of
    /// the router (by default the main runtime serves the router, clicks included).
    #[arg(long, env = "RITMO_HTTP_PER_CPU")]
    pub http_per_cpu: bool,
    /// With `--http-per-cpu`: how many event loops (default: one per core; 0: the main runtime
    /// serves HTTP, as without `--http-per-cpu`). Ignored without `--http-per-cpu`.
    #[arg(long, env = "RITMO_HTTP_THREADS")]
    pub http_threads: Option<usize>,
    /// With `--http-per-cpu`: leave the event loops free to run on any CPU, taking connections
    /// in turn (by default each loop is pinned to a CPU of its own and serves the connections
    /// that CPU receives). Ignored without `--http-per-cpu`.
    #[arg(long, env = "RITMO_HTTP_UNPINNED")]
    pub http_unpinned: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind { port: u16, source: std::io::Error },
    #[error("{0}")]
    Unsupported(&'static str),
    #[error(transparent)]
    WhatsApp(ritmo_whatsapp::ClientError),
    #[error("--rate-card {path}: {problem}")]
    RateCard { path: String, problem: String },
    #[error("cannot keep import files: {0}")]
    Imports(String),
    #[error("cannot use the DynamoDB table {table} at {endpoint}: {source}")]
    DynamoDb {
        endpoint: String,
        table: String,
        source: ritmo_core::PortError,
    },
}

/// A started server.
pub struct Running {
    pub addr: SocketAddr,
    pub admin_token: String,
    pub jwt_secret: String,
    pub manual_clock: bool,
    pub server: tokio::task::JoinHandle<()>,
}

impl Running {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Builds everything and starts serving; returns once the port is bound.
pub async fn start(cli: Cli) -> Result<Running, StartError> {
    let jwt_secret = cli.jwt_secret.clone().unwrap_or_else(random_secret);
    let manual = cli
        .manual_clock
        .then(|| ManualClock::new(chrono::Utc::now()));
    let clock: Arc<dyn Clock> = match &manual {
        Some(manual) => Arc::new(manual.clone()),
        None => Arc::new(SystemClock),
    };
    let scheduler = LocalScheduler::new(clock.clone());
    let ids = Arc::new(UlidGen::new(clock.clone()));
    // The outbox plays WhatsApp unless a Graph API base is given.
    let (messenger, outbox): (Arc<dyn Messenger>, Option<Arc<Outbox>>) =
        match &cli.whatsapp_base_url {
            Some(base_url) => {
                let config = WhatsAppConfig {
                    base_url: base_url.clone(),
                    allow_private_bots: cli.allow_private_bots,
                    ..WhatsAppConfig::default()
                };
                (
                    Arc::new(WhatsApp::new(config).map_err(StartError::WhatsApp)?),
                    None,
                )
            }
            None => {
                let outbox = Arc::new(Outbox::new(clock.clone()));
                (outbox.clone(), Some(outbox))
            }
        };
    let rate_card = match &cli.rate_card {
        Some(path) => Some(Arc::new(read_rate_card(path)?)),
        None => None,
    };
    // Import files wait in a directory (an upload of any size never sits whole in memory);
    // on DynamoDB, in the table, so that another process finishes the job.
    let imports_dir = std::env::temp_dir().join(format!("ritmo-imports-{}", std::process::id()));
    let stores = match &cli.dynamodb_endpoint {
        Some(endpoint) => Stores::of(
            dynamodb_store(
                endpoint,
                &cli.dynamodb_table,
                &jwt_secret,
                cli.secrets_key_id.as_deref(),
            )
            .await?,
        ),
        None => Stores::memory(clock.clone()).with_import_files(Arc::new(
            DirImportFiles::new(&imports_dir).map_err(|e| StartError::Imports(e.to_string()))?,
        )),
    };
    // Files uploaded through links (`{"upload": true}`) wait in a directory too, named after
    // the table on DynamoDB, so that a restarted process still finds the file of a job it
    // resumes. The links are signed with a key derived from the token secret.
    let uploads_dir = match &cli.dynamodb_endpoint {
        Some(_) => std::env::temp_dir().join(format!("ritmo-uploads-{}", cli.dynamodb_table)),
        None => std::env::temp_dir().join(format!("ritmo-uploads-{}", std::process::id())),
    };
    let uploads = Arc::new(
        DirUploads::new(
            &uploads_dir,
            format!("ritmo-local upload key\n{jwt_secret}").as_bytes(),
        )
        .map_err(|e| StartError::Imports(e.to_string()))?,
    );
    let ritmo = Local::new(LocalAdapters {
        base: Base::new(clock.clone(), ids, stores),
        messenger,
        scheduler: scheduler.clone(),
        uploads: Some(uploads.clone()),
        rate_card,
        metrics: Arc::new(NoMetrics),
        bot_addresses: (!cli.allow_private_bots)
            .then(|| Arc::new(ritmo_whatsapp::dns::SystemResolver) as Arc<dyn HostResolver>),
    });
    // Jobs run in this process (the manual clock too: their walk is not timed by it); those a
    // previous process left unfinished in the store are picked up again.
    let jobs = ritmo.job_queue();
    jobs.start();
    match jobs.resume_unfinished(&*ritmo.base().stores.jobs).await {
        Ok(0) => {}
        Ok(resumed) => tracing::info!(resumed, "unfinished jobs queued again"),
        Err(error) => tracing::error!(error = %error, "could not read unfinished jobs"),
    }
    let runner: Arc<dyn StepRunner> = Arc::new(ritmo.sender().clone());
    scheduler.start(manual.is_none());
    let reconciler = ritmo.reconciler(ReconcileSettings {
        grace: chrono::TimeDelta::seconds(cli.reconcile_grace.into()),
        claim_timeout: chrono::TimeDelta::seconds(cli.claim_timeout.into()),
        ..ReconcileSettings::default()
    });
    if manual.is_none() && cli.reconcile_every > 0 {
        let reconciler = reconciler.clone();
        let every = std::time::Duration::from_secs(cli.reconcile_every);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if let Err(error) = reconciler.run().await {
                    tracing::error!(error = %error, "reconciler pass failed");
                }
            }
        });
    }

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", cli.port))
        .await
        .map_err(|source| StartError::Bind {
            port: cli.port,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        port: cli.port,
        source,
    })?;
    let public_base_url = cli
        .public_base_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    uploads.set_base(&format!("http://{addr}"));
    let auth = Auth::hs256(jwt_secret.as_bytes());
    let public = PublicBase::new(&public_base_url);
    let dev = dev::DevState {
        scheduler,
        runner,
        reconciler,
        outbox,
        manual: manual.clone(),
    };
    // The sticky-cookie key is derived from the token secret, so it is stable across restarts
    // exactly when the token secret is.
    let redirect = ritmo.redirect(StickyKey::derive(jwt_secret.as_bytes()), public.clone());
    let direct = cli
        .http_per_cpu
        .then(|| direct::DirectRedirect::new(redirect.clone()));
    let routes = ritmo_http::admin_routes(
        &auth,
        ritmo.sequences_api(),
        ritmo.enrollments_api(),
        ritmo.links_api(public.clone()),
    )
    .merge(ritmo_http::health())
    .merge(ritmo_http::webhook_routes(ritmo.webhook(WebhookSettings {
        app_secret: cli.whatsapp_app_secret.clone().map(Secret::new),
        verify_token: cli.whatsapp_verify_token.clone().map(Secret::new),
    })))
    .merge(uploads::router(uploads::LocalUploadState {
        uploads,
        jobs: ritmo.job_service(),
        runner: ritmo.job_runner(),
        clock: clock.clone(),
    }))
    .merge(ritmo_http::openapi::router())
    .merge(ritmo_http::console::routes(console_config(&cli)))
    .merge(dev::router(dev))
    .merge(ritmo_http::redirect_routes(redirect));
    ritmo_core::links::bots::warm_up();
    let app = ritmo_http::finish(routes);

    let admin_token = ritmo_http::auth::issue_hs256(
        jwt_secret.as_bytes(),
        &cli.tenant,
        Role::Admin,
        chrono::Duration::days(30),
    );
    let server = match direct {
        Some(direct) => {
            let loops = cli.http_threads.unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
            });
            serve::serve_per_cpu(listener, app, Some(direct), loops, !cli.http_unpinned)
        }
        None => {
            if cli.http_threads.is_some() || cli.http_unpinned {
                tracing::warn!("--http-threads and --http-unpinned apply only with --http-per-cpu");
            }
            serve::serve(listener, app)
        }
    };
    tracing::info!(%addr, manual_clock = cli.manual_clock, "ritmo-local listening");
    Ok(Running {
        addr,
        admin_token,
        jwt_secret,
        manual_clock: cli.manual_clock,
        server,
    })
}

fn console_config(cli: &Cli) -> ritmo_http::console::ConsoleConfig {
    let oidc = match (
        &cli.console_authorize_url,
        &cli.console_token_url,
        &cli.console_client_id,
    ) {
        (Some(authorize_url), Some(token_url), Some(client_id)) => {
            Some(ritmo_http::console::OidcClient {
                authorize_url: authorize_url.clone(),
                token_url: token_url.clone(),
                client_id: client_id.clone(),
                logout_url: None,
                scope: "openid".into(),
            })
        }
        _ => None,
    };
    ritmo_http::console::ConsoleConfig {
        oidc,
        ..ritmo_http::console::ConsoleConfig::local()
    }
}

/// The DynamoDB store on `endpoint`, its table created when missing. Its cursor key is derived from the token secret, so a
/// cursor a job stored in the table still reads after a restart exactly when the token secret
/// is the same (as the sticky-cookie key). With `secrets_key_id` it seals access tokens and bot
/// secrets with that KMS key on the same endpoint.
async fn dynamodb_store(
    endpoint: &str,
    table: &str,
    jwt_secret: &str,
    secrets_key_id: Option<&str>,
) -> Result<Arc<DynamoStore>, StartError> {
    let sdk = ritmo_aws::local::sdk_config_for_endpoint(endpoint).await;
    let cursor_key = CursorKey::new(format!("ritmo-local cursor key\n{jwt_secret}").as_bytes())
        .unwrap_or_else(|_| CursorKey::random());
    let mut store = DynamoStore::new(
        ritmo_aws::sdk::dynamodb_client(&sdk),
        StoreConfig {
            table: table.to_string(),
            cursor_key,
        },
    );
    if let Some(key_id) = secrets_key_id {
        store = store.with_secrets(Arc::new(ritmo_aws::secrets::KmsCipher::new(
            aws_sdk_kms::Client::new(&sdk),
            key_id,
        )));
    }
    let created = store
        .create_table_if_missing()
        .await
        .map_err(|source| StartError::DynamoDb {
            endpoint: endpoint.to_string(),
            table: table.to_string(),
            source,
        })?;
    tracing::info!(endpoint, table, created, "using the DynamoDB store");
    Ok(Arc::new(store))
}

/// The rate card of `--rate-card`.
fn read_rate_card(path: &std::path::Path) -> Result<RateCard, StartError> {
    let problem = |problem: String| StartError::RateCard {
        path: path.display().to_string(),
        problem,
    };
    let raw = std::fs::read_to_string(path).map_err(|e| problem(e.to_string()))?;
    RateCard::from_json(&raw).map_err(|errors| {
        problem(
            errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; "),
        )
    })
}

fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
