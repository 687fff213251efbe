//! The functions' handlers, driven by real event shapes: API Gateway HTTP API (payload v2)
//! requests with JWT-authorizer claims, and the SQS batches of step jobs (each the input of a
//! one-shot schedule) that the sender consumes. The routers are the ones the functions' `main.rs` serve (`ritmo_lambda::apps`).

use std::sync::Arc;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use lambda_runtime::{Context, LambdaEvent};
use ritmo_app::local::{Local, LocalAdapters};
use ritmo_core::channels::model::{TemplateCategory, TemplateInfo};
use ritmo_core::common::clock::{Clock, ManualClock, SystemClock};
use ritmo_core::common::ids::UlidGen;
use ritmo_core::common::page::{Page, PageRequest};
use ritmo_core::common::secret::Secret;
use ritmo_core::common::store::{Expect, WriteError};
use ritmo_core::common::tenant::TenantId;
use ritmo_core::delivery::ports::{NotificationQueue, StepRunner};
use ritmo_core::links::{LinkInput, PublicBase, StickyKey};
use ritmo_core::sequences::model::Sequence;
use ritmo_core::sequences::store::SequenceStore;
use ritmo_core::PortError;
use ritmo_http::routes::webhook::WebhookSettings;
use ritmo_http::{Auth, RedirectState};
use ritmo_lambda::apps;
use ritmo_lambda::sender;
use ritmo_memory::LocalScheduler;
use ritmo_whatsapp::outbox::Outbox;
use tower::ServiceExt;
use ulid::Ulid;

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).unwrap()
}

/// Every adapter in memory on the system clock, the outbox as the messenger.
fn adapters() -> LocalAdapters {
    let clock = Arc::new(SystemClock);
    LocalAdapters::in_memory(
        clock.clone(),
        Arc::new(UlidGen::new(clock.clone())),
        Arc::new(Outbox::new(clock.clone())),
        LocalScheduler::new(clock),
    )
}

fn ritmo() -> Local {
    Local::new(adapters())
}

/// Runs an API Gateway v2 (or function URL) event through a function's router as
/// `ritmo_lambda::serve` does.
async fn respond(app: axum::Router, event: &str) -> (StatusCode, HeaderMap, String) {
    respond_to(app, &fixture(event)).await
}

/// [`respond`] for an event given whole.
async fn respond_to(app: axum::Router, event: &str) -> (StatusCode, HeaderMap, String) {
    let request = lambda_http::request::from_str(event).expect("an API Gateway event");
    let (parts, body) = request.into_parts();
    let request = axum::http::Request::from_parts(parts, Body::from(body.to_vec()));
    let response = ritmo_lambda::with_authorizer_claims(app)
        .oneshot(request)
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

async fn call(app: axum::Router, event: &str) -> (StatusCode, String) {
    let (status, _, body) = respond(app, event).await;
    (status, body)
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or(serde_json::Value::Null)
}

#[tokio::test]
async fn sequences_api_creates_a_sequence_for_the_authorizers_tenant() {
    let ritmo = ritmo();
    let app = apps::sequences_api(
        ritmo.sequences_api(),
        Auth::authorizer_context(),
        ritmo_http::console::ConsoleConfig::local(),
    );
    let (status, body) = call(app, "apigw-v2-admin-create-sequence.json").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let body = json(&body);
    assert_eq!(body["status"], "draft");
    assert_eq!(body["name"], "Boas-vindas");
    let id = Ulid::from_string(body["id"].as_str().unwrap()).unwrap();
    let acme = TenantId::parse("acme").unwrap();
    assert!(ritmo
        .base()
        .stores
        .sequences
        .get_sequence(&acme, id)
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn sequences_api_does_not_serve_enrollment_routes() {
    let app = apps::sequences_api(
        ritmo().sequences_api(),
        Auth::authorizer_context(),
        ritmo_http::console::ConsoleConfig::local(),
    );
    let (status, body) = call(app, "apigw-v2-viewer-list-enrollments.json").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(json(&body)["detail"], "no such route");
}

#[tokio::test]
async fn enrollments_api_answers_a_viewer_with_a_404_for_an_unknown_sequence() {
    let app = apps::enrollments_api(ritmo().enrollments_api(), Auth::authorizer_context());
    let (status, body) = call(app, "apigw-v2-viewer-list-enrollments.json").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let body = json(&body);
    assert_eq!(body["type"], "urn:ritmo:problem:not-found");
    assert_ne!(body["detail"], "no such route");
}

#[tokio::test]
async fn enrollments_api_does_not_serve_sequence_routes() {
    let app = apps::enrollments_api(ritmo().enrollments_api(), Auth::authorizer_context());
    let (status, _) = call(app, "apigw-v2-admin-create-sequence.json").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

fn webhook_settings(verify_token: &str) -> WebhookSettings {
    WebhookSettings {
        verify_token: Some(Secret::new(verify_token)),
        app_secret: Some(Secret::new("meta-app-secret")),
    }
}

#[tokio::test]
async fn webhook_echoes_the_challenge_only_for_the_configured_token() {
    let (status, body) = call(
        apps::webhook(ritmo().webhook(webhook_settings("meta-verify-token"))),
        "apigw-v2-webhook-verify.json",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "1158201444");
    let (status, _) = call(
        apps::webhook(ritmo().webhook(webhook_settings("another-token"))),
        "apigw-v2-webhook-verify.json",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn webhook_refuses_an_unsigned_delivery() {
    let (status, body) = call(
        apps::webhook(ritmo().webhook(webhook_settings("meta-verify-token"))),
        "apigw-v2-webhook-delivery.json",
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(json(&body)["status"], 401);
}

fn public() -> PublicBase {
    PublicBase::new("https://go.example.com")
}

fn redirect_state(ritmo: &Local) -> RedirectState {
    ritmo.redirect(StickyKey::new(&[7u8; 32]), public())
}

/// `ana` and `bia`, acme's attendants, and `mystore` rotating over them in turn.
async fn seed_links(ritmo: &Local, rotator: bool) {
    let acme = TenantId::parse("acme").unwrap();
    let mut links = vec![
        serde_json::json!({"slug": "ana", "type": "whatsapp", "phone": "+5511987654321", "text": "Olá!"}),
        serde_json::json!({"slug": "bia", "type": "whatsapp", "phone": "+5511987654322"}),
    ];
    if rotator {
        links.push(serde_json::json!({"slug": "mystore", "type": "rotator",
            "members": [{"link": "ana"}, {"link": "bia"}], "preview": {"title": "Minha Loja"}}));
    }
    for link in links {
        let input: LinkInput = serde_json::from_value(link).unwrap();
        ritmo.link_admin().create_link(&acme, input).await.unwrap();
    }
}

#[tokio::test]
async fn links_api_creates_a_rotator_for_the_authorizers_tenant_with_its_public_url() {
    let ritmo = ritmo();
    seed_links(&ritmo, false).await;
    let app = apps::links_api(ritmo.links_api(public()), Auth::authorizer_context());
    let (status, body) = call(app, "apigw-v2-admin-create-link.json").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let body = json(&body);
    assert_eq!(body["type"], "rotator");
    assert_eq!(body["url"], "https://go.example.com/mystore");
    assert_eq!(body["members"][1]["weight"], 2);
    let acme = TenantId::parse("acme").unwrap();
    assert!(ritmo.link_admin().link(&acme, "mystore").await.is_ok());
}

#[tokio::test]
async fn links_api_does_not_serve_other_routes() {
    let app = apps::links_api(ritmo().links_api(public()), Auth::authorizer_context());
    let (status, _) = call(app.clone(), "apigw-v2-admin-create-sequence.json").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(app, "function-url-redirect-browser.json").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn redirect_sends_a_browser_to_whatsapp_in_turn() {
    let ritmo = ritmo();
    seed_links(&ritmo, true).await;
    let mut locations = Vec::new();
    for _ in 0..3 {
        let (status, headers, _) = respond(
            apps::redirect(redirect_state(&ritmo)),
            "function-url-redirect-browser.json",
        )
        .await;
        assert_eq!(status, StatusCode::FOUND);
        assert_eq!(headers["cache-control"], "private, no-store");
        locations.push(headers["location"].to_str().unwrap().to_string());
    }
    assert_eq!(
        locations,
        [
            "https://wa.me/5511987654321?text=Ol%C3%A1%21",
            "https://wa.me/5511987654322",
            "https://wa.me/5511987654321?text=Ol%C3%A1%21",
        ]
    );
}

#[tokio::test]
async fn redirect_answers_a_preview_bot_with_the_preview_page_and_no_turn() {
    let ritmo = ritmo();
    seed_links(&ritmo, true).await;
    let (status, headers, body) = respond(
        apps::redirect(redirect_state(&ritmo)),
        "function-url-redirect-whatsapp.json",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(
        body.contains(r#"<meta property="og:title" content="Minha Loja">"#),
        "{body}"
    );
    assert!(body.contains("https://go.example.com/mystore"), "{body}");
    // The bot did not take a turn: the first person still goes to the first member.
    let (status, headers, _) = respond(
        apps::redirect(redirect_state(&ritmo)),
        "function-url-redirect-browser.json",
    )
    .await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(
        headers["location"],
        "https://wa.me/5511987654321?text=Ol%C3%A1%21"
    );
}

#[tokio::test]
async fn redirect_answers_an_unknown_slug_with_a_404_page_and_serves_no_admin_route() {
    let app = apps::redirect(redirect_state(&ritmo()));
    let (status, headers, _) = respond(app.clone(), "function-url-redirect-browser.json").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let (status, _) = call(app, "apigw-v2-admin-create-link.json").await;
    assert_ne!(status, StatusCode::CREATED);
}

/// The fixture's batch of one step job, its body replaced by `jobs` (one record each) when given.
fn step_batch(jobs: &[serde_json::Value]) -> LambdaEvent<SqsEvent> {
    let mut event = json(&fixture("sqs-step-job.json"));
    if !jobs.is_empty() {
        let template = event["Records"][0].clone();
        event["Records"] = jobs
            .iter()
            .enumerate()
            .map(|(i, job)| {
                let mut record = template.clone();
                record["messageId"] = format!("message-{i}").into();
                record["body"] = job.to_string().into();
                record
            })
            .collect();
    }
    LambdaEvent::new(serde_json::from_value(event).unwrap(), Context::default())
}

fn failed(response: &SqsBatchResponse) -> Vec<&str> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect()
}

fn runner(ritmo: &Local) -> Arc<dyn StepRunner> {
    Arc::new(ritmo.sender().clone())
}

/// A sequence of one template step, active, with `+5511987654321` enrolled: returns the ports,
/// the outbox and the step job its schedule carries (the body of the step-queue message).
async fn enrolled_contact() -> (Local, Arc<Outbox>, serde_json::Value, Ulid) {
    let clock = Arc::new(ManualClock::new(
        chrono::DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z")
            .unwrap()
            .to_utc(),
    ));
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let outbox = Arc::new(Outbox::new(dyn_clock.clone()));
    let scheduler = LocalScheduler::new(dyn_clock.clone());
    let ports = Local::new(LocalAdapters::in_memory(
        dyn_clock.clone(),
        Arc::new(UlidGen::new(dyn_clock)),
        outbox.clone(),
        scheduler.clone(),
    ));
    let acme = TenantId::parse("acme").unwrap();
    let channel = ports
        .channel_service()
        .create_channel(
            &acme,
            serde_json::from_value(serde_json::json!({"name": "Loja", "phone_number_id": "1098765432",
                "waba_id": "2098765432", "display_phone": "+55 11 4000-0000", "access_token": "EAAG-token"}))
            .unwrap(),
        )
        .await
        .unwrap();
    outbox.register_template(
        channel.id,
        TemplateInfo {
            name: "boas_vindas".into(),
            language: "pt_BR".into(),
            status: "APPROVED".into(),
            category: TemplateCategory::Marketing,
            body_parameters: 1,
            body_parameter_names: vec![],
            header: None,
            buttons: vec![],
            unsupported: vec![],
        },
    );
    let sequences = ports.sequence_service();
    let sequence = sequences
        .create_sequence(
            &acme,
            serde_json::from_value(
                serde_json::json!({"name": "Boas-vindas", "time_zone": "America/Sao_Paulo"}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    sequences
        .add_step(
            &acme,
            sequence.id,
            serde_json::from_value(serde_json::json!({"channel_id": channel.id,
                "action": {"type": "template", "name": "boas_vindas", "language": "pt_BR", "parameters": ["{{contact.name}}"]},
                "delay": {"amount": 1, "unit": "minutes"}}))
            .unwrap(),
        )
        .await
        .unwrap();
    sequences
        .activate_sequence(&acme, sequence.id)
        .await
        .unwrap();
    ports
        .enrollment_service()
        .enroll(
            &acme,
            sequence.id,
            vec![serde_json::from_value(
                serde_json::json!({"phone": "+5511987654321", "name": "Ana"}),
            )
            .unwrap()],
        )
        .await
        .unwrap();
    let pending = scheduler.pending();
    assert_eq!(pending.len(), 1, "one schedule for the first step");
    clock.set(pending[0].fire_at).unwrap();
    let job = serde_json::to_value(&pending[0].input).unwrap();
    (ports, outbox, job, sequence.id)
}

#[tokio::test]
async fn sender_sends_the_step_a_schedule_delivers_once_even_when_delivered_twice() {
    let (ports, outbox, job, sequence_id) = enrolled_contact().await;
    let response = sender::handle(runner(&ports), step_batch(std::slice::from_ref(&job))).await;
    assert!(failed(&response).is_empty());
    assert_eq!(outbox.entries().len(), 1, "the step went out");
    assert_eq!(outbox.entries()[0].request["to"], "5511987654321");
    // At-least-once delivery (and a redrive from the dead-letter queue): the same message
    // again is success and sends nothing.
    let response = sender::handle(runner(&ports), step_batch(&[job])).await;
    assert!(failed(&response).is_empty());
    assert_eq!(outbox.entries().len(), 1, "never twice");
    let acme = TenantId::parse("acme").unwrap();
    let enrollment = ports
        .enrollment_service()
        .enrollment(&acme, sequence_id, "+5511987654321")
        .await
        .unwrap();
    assert_eq!(enrollment.history.len(), 1);
    assert_eq!(enrollment.status.as_str(), "completed");
}

#[tokio::test]
async fn sender_sends_a_step_delivered_twice_in_one_batch_once() {
    let (ports, outbox, job, _) = enrolled_contact().await;
    let response = sender::handle(runner(&ports), step_batch(&[job.clone(), job])).await;
    assert!(failed(&response).is_empty());
    assert_eq!(
        outbox.entries().len(),
        1,
        "the claim lets one of the two through"
    );
}

#[tokio::test]
async fn sender_treats_a_job_of_an_unknown_enrollment_as_stale_and_sends_nothing() {
    let (ports, outbox, _, _) = enrolled_contact().await;
    let response = sender::handle(runner(&ports), step_batch(&[])).await;
    assert!(failed(&response).is_empty());
    assert!(outbox.entries().is_empty());
}

#[tokio::test]
async fn sender_reports_a_message_that_is_not_a_step_job_as_failed() {
    let response = sender::handle(
        runner(&ritmo()),
        step_batch(&[serde_json::json!({"hello": "world"})]),
    )
    .await;
    assert_eq!(failed(&response), ["message-0"]);
}

/// A store whose every call fails, as DynamoDB does when it cannot be reached.
struct Unreachable;

#[async_trait]
impl SequenceStore for Unreachable {
    async fn put_sequence(&self, _: &Sequence, _: Expect) -> Result<(), WriteError> {
        Err(WriteError::Port(PortError::new("store unreachable")))
    }
    async fn get_sequence(&self, _: &TenantId, _: Ulid) -> Result<Option<Sequence>, PortError> {
        Err(PortError::new("store unreachable"))
    }
    async fn list_sequences(
        &self,
        _: &TenantId,
        _: &PageRequest,
    ) -> Result<Page<Sequence>, PortError> {
        Err(PortError::new("store unreachable"))
    }
}

#[tokio::test]
async fn sender_reports_the_record_whose_port_failed_so_sqs_delivers_it_again() {
    let mut adapters = adapters();
    adapters.base.stores.sequences = Arc::new(Unreachable);
    let ports = Local::new(adapters);
    let response = sender::handle(runner(&ports), step_batch(&[])).await;
    assert_eq!(failed(&response), ["5f1c2a9e-7b3d-4c1e-9a6f-0d2b8e4c6a10"]);
    assert_eq!(
        serde_json::to_value(&response).unwrap(),
        serde_json::json!({"batchItemFailures": [{"itemIdentifier": "5f1c2a9e-7b3d-4c1e-9a6f-0d2b8e4c6a10"}]})
    );
}

#[tokio::test]
async fn the_sender_function_runs_a_step_queue_batch_or_a_reconciler_pass_and_refuses_other_events()
{
    let (ports, outbox, job, _) = enrolled_contact().await;
    let reconciler = ports.reconciler(Default::default());
    let batch = serde_json::to_value(step_batch(std::slice::from_ref(&job)).payload).unwrap();
    let answer = sender::dispatch(
        runner(&ports),
        &reconciler,
        LambdaEvent::new(batch, Context::default()),
    )
    .await
    .unwrap();
    assert_eq!(answer["batchItemFailures"], serde_json::json!([]));
    assert_eq!(outbox.entries().len(), 1);
    let answer = sender::dispatch(
        runner(&ports),
        &reconciler,
        LambdaEvent::new(serde_json::json!({"reconcile": {}}), Context::default()),
    )
    .await
    .unwrap();
    assert_eq!(
        answer,
        serde_json::json!({"refired": 0, "unknown": 0, "moved_on": 0})
    );
    let refused = sender::dispatch(
        runner(&ports),
        &reconciler,
        LambdaEvent::new(
            serde_json::json!({"detail-type": "Scheduled Event"}),
            Context::default(),
        ),
    )
    .await;
    assert!(matches!(refused, Err(sender::InvocationError::Unknown)));
}

/// Records what the webhook queues; fails every enqueue when `refuse` is set.
#[derive(Default)]
struct QueueRecorder {
    queued: std::sync::Mutex<Vec<Vec<u8>>>,
    refuse: bool,
}

#[async_trait]
impl NotificationQueue for QueueRecorder {
    fn max_message_bytes(&self) -> usize {
        100_000
    }

    async fn enqueue(&self, notifications: Vec<Vec<u8>>) -> Result<(), PortError> {
        if self.refuse {
            return Err(PortError::new("queue unavailable"));
        }
        self.queued.lock().unwrap().extend(notifications);
        Ok(())
    }
}

/// The delivery fixture with `body` as its body, signed with the test app secret.
fn signed_delivery(body: &str) -> String {
    let mut event = json(&fixture("apigw-v2-webhook-delivery.json"));
    event["body"] = body.into();
    event["headers"]["x-hub-signature-256"] =
        ritmo_whatsapp::signature(b"meta-app-secret", body.as_bytes()).into();
    event.to_string()
}

/// A notification of `statuses` delivered statuses for number 1098765432, about 400 bytes each.
fn statuses_notification(statuses: usize) -> String {
    let statuses: Vec<serde_json::Value> = (0..statuses)
        .map(|i| serde_json::json!({"id": format!("wamid.{i}"), "status": "delivered", "timestamp": "1750263773",
            "recipient_id": "5511987654321", "biz_opaque_callback_data": "not-a-callback",
            "pricing": {"billable": true, "pricing_model": "PMP", "category": "marketing", "type": "regular"},
            "conversation": {"id": "CONVERSATION_ID", "origin": {"type": "marketing"}}}))
        .collect();
    serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "2098765432", "changes": [{
        "field": "messages", "value": {"messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "551140000000", "phone_number_id": "1098765432"},
        "statuses": statuses}}]}]})
    .to_string()
}

#[tokio::test]
async fn webhook_queues_a_signed_delivery_in_parts_and_answers_at_once() {
    let queue = Arc::new(QueueRecorder::default());
    let mut state = ritmo().webhook(webhook_settings("meta-verify-token"));
    state.queue = Some(queue.clone());
    let body = statuses_notification(1_000);
    assert!(body.len() > 300_000, "{}", body.len());
    let (status, _, _) = respond_to(apps::webhook(state), &signed_delivery(&body)).await;
    assert_eq!(status, StatusCode::OK);
    let queued = queue.queued.lock().unwrap().clone();
    assert!(queued.len() >= 4, "{} parts", queued.len());
    assert!(queued.iter().all(|part| part.len() <= 100_000));
    let ids: Vec<String> = queued
        .iter()
        .flat_map(|part| {
            json(std::str::from_utf8(part).unwrap())["entry"][0]["changes"][0]["value"]["statuses"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    let expected: Vec<String> = (0..1_000).map(|i| format!("wamid.{i}")).collect();
    assert_eq!(ids, expected, "every status once, in order");

    let refusing = Arc::new(QueueRecorder {
        refuse: true,
        ..Default::default()
    });
    let mut state = ritmo().webhook(webhook_settings("meta-verify-token"));
    state.queue = Some(refusing);
    let (status, headers, body) = respond_to(
        apps::webhook(state),
        &signed_delivery(&statuses_notification(1)),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(headers["content-type"], "application/problem+json");
    let mut state = ritmo().webhook(webhook_settings("meta-verify-token"));
    state.queue = Some(queue.clone());
    let before = queue.queued.lock().unwrap().len();
    let (status, _) = call(apps::webhook(state), "apigw-v2-webhook-delivery.json").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "an unsigned delivery is never queued"
    );
    assert_eq!(queue.queued.lock().unwrap().len(), before);
}

/// A batch of queued notifications, one record each.
fn notification_batch(bodies: &[String]) -> LambdaEvent<SqsEvent> {
    let mut batch = step_batch(&[]);
    let template = serde_json::to_value(&batch.payload.records[0]).unwrap();
    let records: Vec<serde_json::Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let mut record = template.clone();
            record["messageId"] = format!("notification-{i}").into();
            record["body"] = body.as_str().into();
            record
        })
        .collect();
    batch.payload = serde_json::from_value(serde_json::json!({"Records": records})).unwrap();
    batch
}

#[tokio::test]
async fn webhook_worker_applies_queued_notifications_and_names_the_unreadable_one() {
    let (ports, outbox, job, sequence_id) = enrolled_contact().await;
    let response = sender::handle(runner(&ports), step_batch(std::slice::from_ref(&job))).await;
    assert!(failed(&response).is_empty());
    assert_eq!(outbox.entries().len(), 1);
    let acme = TenantId::parse("acme").unwrap();
    let enrollments = ports.enrollment_service();
    let sent = enrollments
        .enrollment(&acme, sequence_id, "+5511987654321")
        .await
        .unwrap();
    let message_id = sent.history[0].message_id.clone().unwrap();
    let callback = outbox.entries()[0].request["biz_opaque_callback_data"].clone();
    let read = serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "2098765432", "changes": [{
        "field": "messages", "value": {"messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "551140000000", "phone_number_id": "1098765432"},
        "statuses": [{"id": message_id, "status": "read", "timestamp": "1750263780",
                      "recipient_id": "5511987654321", "biz_opaque_callback_data": callback}]}}]}]})
    .to_string();
    let response = ritmo_lambda::inbound::handle(
        &ports.inbound(),
        notification_batch(&["not json".to_string(), read.clone(), read]),
    )
    .await;
    assert_eq!(failed(&response), ["notification-0"]);
    let after = enrollments
        .enrollment(&acme, sequence_id, "+5511987654321")
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(after.history[0].status).unwrap(),
        "read",
        "the queued status was applied (twice, harmlessly)"
    );
}

#[tokio::test]
async fn the_job_worker_runs_a_chunk_per_message_and_names_a_body_that_is_not_a_job_message() {
    let ports = ritmo();
    let acme = TenantId::parse("acme").unwrap();
    let sequence = ports
        .sequence_service()
        .create_sequence(
            &acme,
            serde_json::from_value(serde_json::json!({"name": "Promo"})).unwrap(),
        )
        .await
        .unwrap();
    let job = ports
        .enrollment_service()
        .remove_enrollments(
            &acme,
            sequence.id,
            ritmo_core::enrollments::model::EnrollmentStatus::Active,
        )
        .await
        .unwrap();
    let runner = ports.job_runner();
    let batch = step_batch(&[
        serde_json::json!({"tenant": "acme", "job_id": job.id}),
        serde_json::json!("not a job message"),
    ]);
    let response = ritmo_lambda::jobs::handle(&runner, batch).await;
    assert_eq!(failed(&response), ["message-1"]);
    let ran = ports.job_service().job(&acme, job.id).await.unwrap();
    assert_eq!(ran.status, ritmo_core::jobs::JobStatus::Succeeded);
    // The same message again (a redelivery) changes nothing.
    let again = step_batch(&[serde_json::json!({"tenant": "acme", "job_id": job.id})]);
    assert!(failed(&ritmo_lambda::jobs::handle(&runner, again).await).is_empty());
    assert_eq!(ports.job_service().job(&acme, job.id).await.unwrap(), ran);
}

/// Reads the test's upload messages: `{"uploaded": job_id, "bytes", "tag"}` of tenant `acme`
/// (the stack's reader, of S3's events, is `ritmo_aws::s3_uploads::UploadEvent::completed`).
fn test_upload(body: &str) -> Option<ritmo_core::jobs::UploadCompleted> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    Some(ritmo_core::jobs::UploadCompleted {
        tenant: TenantId::parse("acme").unwrap(),
        job_id: value["uploaded"].as_str()?.parse().ok()?,
        bytes: value["bytes"].as_u64()?,
        tag: value["tag"].as_str()?.to_string(),
    })
}

#[tokio::test]
async fn the_job_worker_starts_a_job_whose_upload_completed_and_names_one_it_could_not_read() {
    let dir = std::env::temp_dir().join(format!("ritmo-lambda-uploads-{}", ulid::Ulid::new()));
    let uploads = std::sync::Arc::new(ritmo_memory::DirUploads::new(&dir, b"k").unwrap());
    uploads.set_base("http://127.0.0.1:3000");
    let mut adapters = adapters();
    adapters.uploads = Some(uploads.clone());
    let ports = Local::new(adapters);
    let queue = ports.job_queue().clone();
    let acme = TenantId::parse("acme").unwrap();
    let sequence = ports
        .sequence_service()
        .create_sequence(
            &acme,
            serde_json::from_value(serde_json::json!({"name": "Promo"})).unwrap(),
        )
        .await
        .unwrap();
    let enrollments = ports.enrollment_service();
    let begin = || {
        enrollments.begin_upload(
            &acme,
            sequence.id,
            ritmo_core::jobs::JobKind::RemoveContacts,
        )
    };
    let (uploaded, missing) = (begin().await.unwrap(), begin().await.unwrap());
    let path = uploads.path(&acme, uploaded.job_id);
    std::fs::write(&path, "phone\n+5511987654321\n").unwrap();
    let tag = ritmo_memory::DirUploads::tag_of(&std::fs::metadata(&path).unwrap());
    let batch = step_batch(&[
        serde_json::json!({"uploaded": uploaded.job_id, "bytes": 21, "tag": tag}),
        // Its file is not there (yet): SQS is to deliver the event again.
        serde_json::json!({"uploaded": missing.job_id, "bytes": 21, "tag": "0-0"}),
    ]);
    let runner = ports.job_runner();
    let response = ritmo_lambda::jobs::handle_with_uploads(&runner, batch, test_upload).await;
    assert_eq!(failed(&response), ["message-1"]);
    queue.run_until_idle().await;
    let job = ports
        .job_service()
        .job(&acme, uploaded.job_id)
        .await
        .unwrap();
    assert_eq!(
        (job.status, job.failed),
        (ritmo_core::jobs::JobStatus::Succeeded, 1),
        "the listed phone was never enrolled: {:?}",
        job.failures
    );
    let waiting = ports
        .job_service()
        .job(&acme, missing.job_id)
        .await
        .unwrap();
    assert_eq!(waiting.status, ritmo_core::jobs::JobStatus::Queued);
    assert!(
        waiting.upload_expires_at.is_some(),
        "still waiting for its file"
    );
    // Its expiry check, early (the link is still valid): it waits on; and for the job whose
    // file came, the check runs nothing.
    let checks = step_batch(&[
        serde_json::json!({"tenant": "acme", "job_id": missing.job_id, "upload_check": true}),
        serde_json::json!({"tenant": "acme", "job_id": uploaded.job_id, "upload_check": true}),
    ]);
    let response = ritmo_lambda::jobs::handle_with_uploads(&runner, checks, test_upload).await;
    assert!(failed(&response).is_empty());
    let still = ports
        .job_service()
        .job(&acme, missing.job_id)
        .await
        .unwrap();
    assert_eq!(still, waiting, "still waiting, unchanged");
    assert_eq!(
        ports
            .job_service()
            .job(&acme, uploaded.job_id)
            .await
            .unwrap(),
        job,
        "nothing run again"
    );
}
