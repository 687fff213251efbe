//! `/_dev/*`: routes that exist only in the local server, never in a Lambda.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use ritmo_core::channels::model::{TemplateButton, TemplateCategory, TemplateHeader, TemplateInfo};
use ritmo_core::common::clock::{Clock, ManualClock};
use ritmo_core::delivery::ports::{Schedule, StepJob, StepRunner};
use ritmo_core::delivery::reconcile::{Reconciled, Reconciler};
use ritmo_http::extract::Json;
use ritmo_http::problem::{ApiResult, Problem};
use ritmo_memory::LocalScheduler;
use ritmo_whatsapp::outbox::{Outbox, OutboxEntry, OutboxFailure, OutboxWaId};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

#[derive(Clone)]
pub struct DevState {
    pub scheduler: Arc<LocalScheduler>,
    pub runner: Arc<dyn StepRunner>,
    pub reconciler: Reconciler,
    pub outbox: Option<Arc<Outbox>>,
    pub manual: Option<ManualClock>,
}

pub fn router<S: Clone + Send + Sync + 'static>(state: DevState) -> Router<S> {
    let mut router = Router::new()
        .route("/_dev/schedules", get(schedules))
        .route("/_dev/fire", post(fire))
        .route("/_dev/reconcile", post(reconcile));
    if state.outbox.is_some() {
        router = router
            .route("/_dev/outbox", get(outbox))
            .route("/_dev/outbox/failures", post(inject_failure))
            .route("/_dev/outbox/wa_ids", post(set_wa_id))
            .route("/_dev/templates", post(register_template));
    }
    if state.manual.is_some() {
        router = router.route("/_dev/clock", get(read_clock).post(move_clock));
    }
    router.with_state(state)
}

async fn schedules(State(dev): State<DevState>) -> axum::Json<Vec<Schedule>> {
    axum::Json(dev.scheduler.pending())
}

/// Delivers a schedule's input to the sender once more, as the scheduler's at-least-once
/// delivery may; answers when the sender has finished.
async fn fire(State(dev): State<DevState>, Json(job): Json<StepJob>) -> ApiResult<StatusCode> {
    dev.runner.run(job).await.map_err(|error| {
        tracing::error!(error = %error, "sender failed");
        Problem::internal()
    })?;
    Ok(StatusCode::NO_CONTENT)
}

/// One pass of the reconciler, now; answers what it did.
async fn reconcile(State(dev): State<DevState>) -> ApiResult<axum::Json<Reconciled>> {
    let done = dev.reconciler.run().await.map_err(|error| {
        tracing::error!(error = %error, "reconciler pass failed");
        Problem::internal()
    })?;
    Ok(axum::Json(done))
}

fn outbox_of(dev: &DevState) -> Result<&Arc<Outbox>, Problem> {
    dev.outbox
        .as_ref()
        .ok_or_else(|| Problem::not_found("outbox"))
}

async fn outbox(State(dev): State<DevState>) -> ApiResult<axum::Json<Vec<OutboxEntry>>> {
    Ok(axum::Json(outbox_of(&dev)?.entries()))
}

/// `{"phone", "wa_id"}`: sends to `phone` answer with that WhatsApp id from now on.
async fn set_wa_id(
    State(dev): State<DevState>,
    Json(hint): Json<OutboxWaId>,
) -> ApiResult<StatusCode> {
    if hint.wa_id.chars().filter(char::is_ascii_digit).count() < 8 {
        return Err(Problem::bad_request(
            "wa_id",
            "must be a WhatsApp id (digits)",
        ));
    }
    outbox_of(&dev)?.set_wa_id(hint);
    Ok(StatusCode::NO_CONTENT)
}

async fn inject_failure(
    State(dev): State<DevState>,
    Json(failure): Json<OutboxFailure>,
) -> ApiResult<StatusCode> {
    if failure.code.is_none() && !failure.timeout {
        return Err(Problem::bad_request(
            "code",
            "give a Meta error code, or \"timeout\": true",
        ));
    }
    outbox_of(&dev)?.inject_failure(failure);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct TemplateRegistration {
    channel_id: String,
    name: String,
    language: String,
    category: String,
    #[serde(default = "approved")]
    status: String,
    #[serde(default)]
    body_parameters: u32,
    /// The body's named parameters (`["first_name"]`), when it uses them.
    #[serde(default)]
    body_parameter_names: Vec<String>,
    /// `{"format": "IMAGE"}`, `{"format": "TEXT", "parameters": 1}`, ...
    #[serde(default)]
    header: Option<TemplateHeader>,
    /// `[{"type": "URL", "text": "Ver", "parameters": 1}, {"type": "QUICK_REPLY"}]`
    #[serde(default)]
    buttons: Vec<TemplateButton>,
}

fn approved() -> String {
    "APPROVED".into()
}

async fn register_template(
    State(dev): State<DevState>,
    Json(t): Json<TemplateRegistration>,
) -> ApiResult<(StatusCode, axum::Json<TemplateInfo>)> {
    let channel_id = Ulid::from_string(&t.channel_id)
        .map_err(|_| Problem::bad_request("channel_id", "must be a channel id"))?;
    let category = TemplateCategory::parse(&t.category).ok_or_else(|| {
        Problem::bad_request("category", "must be MARKETING, UTILITY or AUTHENTICATION")
    })?;
    if t.name.trim().is_empty() {
        return Err(Problem::bad_request("name", "must not be empty"));
    }
    if t.language.trim().is_empty() {
        return Err(Problem::bad_request("language", "must not be empty"));
    }
    let template = TemplateInfo {
        name: t.name,
        language: t.language,
        status: t.status.to_ascii_uppercase(),
        category,
        body_parameters: t.body_parameters,
        body_parameter_names: t.body_parameter_names,
        header: t.header,
        buttons: t.buttons,
        unsupported: vec![],
    };
    outbox_of(&dev)?.register_template(channel_id, template.clone());
    Ok((StatusCode::CREATED, axum::Json(template)))
}

#[derive(Deserialize)]
struct ClockMove {
    advance_seconds: Option<i64>,
    now: Option<DateTime<Utc>>,
}

#[derive(Serialize)]
struct ClockState {
    now: DateTime<Utc>,
    fired: usize,
}

async fn read_clock(State(dev): State<DevState>) -> ApiResult<axum::Json<ClockState>> {
    let clock = dev
        .manual
        .as_ref()
        .ok_or_else(|| Problem::not_found("manual clock"))?;
    Ok(axum::Json(ClockState {
        now: clock.now(),
        fired: 0,
    }))
}

async fn move_clock(
    State(dev): State<DevState>,
    Json(request): Json<ClockMove>,
) -> ApiResult<axum::Json<ClockState>> {
    let clock = dev
        .manual
        .as_ref()
        .ok_or_else(|| Problem::not_found("manual clock"))?;
    let target = match (request.advance_seconds, request.now) {
        (Some(seconds), None) => chrono::TimeDelta::try_seconds(seconds)
            .and_then(|delta| clock.now().checked_add_signed(delta))
            .ok_or_else(|| Problem::bad_request("advance_seconds", "is out of range"))?,
        (None, Some(now)) => {
            // The clock starts at the real time; the first `now` may put it anywhere.
            clock.place(now);
            now
        }
        _ => {
            return Err(Problem::bad_request(
                "body",
                "give exactly one of advance_seconds or now",
            ))
        }
    };
    let fired = dev
        .scheduler
        .advance(clock, target)
        .await
        .map_err(|e| Problem::new(StatusCode::CONFLICT, "clock-backwards", e.to_string()))?;
    Ok(axum::Json(ClockState {
        now: clock.now(),
        fired,
    }))
}
