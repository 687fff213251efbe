//! The OpenAPI 3.1 document of the HTTP API, generated from the handlers' `#[utoipa::path]`
//! attributes and the request and response types' `ToSchema` derives.
//!
//! `docs/openapi.json` is this document, committed; a test fails when they differ
//! (`RITMO_UPDATE_OPENAPI=1 cargo test -p ritmo-http openapi` rewrites it).

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::OpenApi as Document;
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

mod tidy;

/// Where `ritmo-local` serves the document.
pub const PATH: &str = "/openapi.json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Ritmo",
        description = "Messaging automation for WhatsApp customer service: drip sequences of \
                       template and chatbot steps sent inside allowed hours, and sequential \
                       (rotating) WhatsApp links.\n\n\
                       The admin API (`/v1`) takes a bearer JWT with the claims `tenant` and \
                       `role` (`admin`, or `viewer`, which may only read). Errors are \
                       `application/problem+json`. Lists take `?limit=` (1 to 200, default 50) \
                       and an opaque `?cursor=`. Ids are ULIDs; times are RFC 3339 UTC.",
        license(name = "MIT"),
    ),
    servers(
        (url = "http://127.0.0.1:3000", description = "`ritmo-local`, the local server, on its default port."),
    ),
    components(responses(
        crate::problem::BadRequest,
        crate::problem::Unauthorized,
        crate::problem::Forbidden,
        crate::problem::NotFound,
        crate::problem::Conflict,
        crate::problem::PayloadTooLarge,
        crate::problem::UnsupportedMediaType,
        crate::problem::Unprocessable,
        crate::problem::Unavailable,
    )),
    modifiers(&BearerJwt),
    tags(
        (name = "channels", description = "WhatsApp Business numbers and their templates."),
        (name = "bots", description = "Chatbots that a step can start."),
        (name = "sequences", description = "Sequences, their steps, activation."),
        (name = "enrollments", description = "Contacts in a sequence, their history, statistics."),
        (name = "jobs", description = "Background jobs: archive, resume and bulk removal walk a sequence's enrollments outside the request."),
        (name = "links", description = "WhatsApp links and rotators, their statistics and QR codes."),
        (name = "redirect", description = "The public link customers click."),
        (name = "webhooks", description = "Meta's WhatsApp Business webhooks."),
        (name = "health", description = "Liveness."),
        (name = "openapi", description = "This document."),
    ),
)]
pub struct ApiDoc;

/// The document.
pub fn document() -> Value {
    let mut api = ApiDoc::openapi();
    for family in crate::documented_routes() {
        api.merge(family);
    }
    require_bearer_on_admin_api(&mut api);
    let mut document = serde_json::to_value(api).expect("the OpenAPI document serialises");
    add_links(&mut document);
    tidy::tidy(&mut document);
    document
}

/// The document as pretty-printed JSON, ending with a newline (as committed).
pub fn document_json() -> String {
    let mut json =
        serde_json::to_string_pretty(&document()).expect("the OpenAPI document serialises");
    json.push('\n');
    json
}

/// `GET /openapi.json`.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    api_router().split_for_parts().0
}

/// `GET /openapi.json`, documented.
pub(crate) fn api_router<S: Clone + Send + Sync + 'static>() -> OpenApiRouter<S> {
    OpenApiRouter::new().routes(routes!(openapi_document))
}

/// The document, generated once.
fn cached_json() -> &'static str {
    static JSON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    JSON.get_or_init(document_json)
}

/// This OpenAPI 3.1 document, as committed at `docs/openapi.json`.
#[utoipa::path(
    get, path = "/openapi.json", operation_id = "getOpenApiDocument", tag = "openapi",
    responses(
        (status = 200, description = "The OpenAPI document.", content_type = "application/json",
         body = Object),
    )
)]
async fn openapi_document() -> Response {
    serve_json(cached_json())
}

fn serve_json(json: &str) -> Response {
    let mut response = json.to_string().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Every `/v1` operation takes the bearer JWT; the public routes (redirect, webhook, health, this
/// document) take none. Said here once rather than on each handler.
fn require_bearer_on_admin_api(api: &mut Document) {
    for (path, item) in api.paths.paths.iter_mut() {
        if !path.starts_with("/v1/") {
            continue;
        }
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
        ]
        .into_iter()
        .flatten()
        {
            operation.security = Some(vec![SecurityRequirement::new(
                "bearer",
                Vec::<String>::new(),
            )]);
        }
    }
}

/// The bearer JWT every `/v1` operation takes.
struct BearerJwt;

impl Modify for BearerJwt {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A JWT with the claims `tenant` and `role` (`admin` or `viewer`). In AWS \
                         the API's JWT authorizer validates it; the local server validates HS256 \
                         tokens with its secret and prints an admin token at start.",
                    ))
                    .build(),
            ),
        );
    }
}

/// OpenAPI links: how a response's values feed other operations (`$response.body#/id` of a
/// created channel is the `id` of `getChannel`, ...). They are added to the JSON document:
/// utoipa's `Link` serialises its fields in snake case, which OpenAPI does not know.
/// Links from the `status` response of operation `from` to each operation of `to`, with these
/// parameters (runtime expressions).
struct LinkSpec {
    from: &'static str,
    status: &'static str,
    to: &'static [&'static str],
    parameters: &'static [(&'static str, &'static str)],
}

/// What a started job's id leads to.
const JOB_OPERATIONS: &[&str] = &["getJob", "cancelJob", "jobErrors"];

const LINKS: &[LinkSpec] = &[
    LinkSpec {
        from: "createChannel",
        status: "201",
        to: &[
            "getChannel",
            "updateChannel",
            "deleteChannel",
            "listChannelTemplates",
        ],
        parameters: &[("id", "$response.body#/id")],
    },
    LinkSpec {
        from: "createBot",
        status: "201",
        to: &["getBot", "updateBot", "deleteBot"],
        parameters: &[("id", "$response.body#/id")],
    },
    LinkSpec {
        from: "createSequence",
        status: "201",
        to: &[
            "getSequence",
            "updateSequence",
            "archiveSequence",
            "addStep",
            "activateSequence",
            "pauseSequence",
            "resumeSequence",
            "enrollContacts",
            "listEnrollments",
            "removeEnrollments",
            "sequenceStats",
        ],
        parameters: &[("id", "$response.body#/id")],
    },
    LinkSpec {
        from: "archiveSequence",
        status: "202",
        to: JOB_OPERATIONS,
        parameters: &[("id", "$response.body#/job_id")],
    },
    LinkSpec {
        from: "resumeSequence",
        status: "202",
        to: JOB_OPERATIONS,
        parameters: &[("id", "$response.body#/job_id")],
    },
    LinkSpec {
        from: "removeEnrollments",
        status: "202",
        to: JOB_OPERATIONS,
        parameters: &[("id", "$response.body#/job_id")],
    },
    LinkSpec {
        from: "addStep",
        status: "201",
        to: &["replaceStep", "deleteStep", "moveStep"],
        parameters: &[
            ("id", "$request.path.id"),
            ("step_id", "$response.body#/id"),
        ],
    },
    LinkSpec {
        from: "enrollContacts",
        status: "200",
        to: &["getEnrollment", "removeEnrollment"],
        parameters: &[
            ("id", "$request.path.id"),
            ("phone", "$response.body#/results/0/phone"),
        ],
    },
    LinkSpec {
        from: "createLink",
        status: "201",
        to: &[
            "getLink",
            "replaceLink",
            "deleteLink",
            "linkStats",
            "linkQrCode",
            "followLink",
        ],
        parameters: &[("slug", "$response.body#/slug")],
    },
];

/// Adds [`LINKS`] to the responses of the JSON document.
fn add_links(document: &mut Value) {
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for operation in paths.values_mut().filter_map(Value::as_object_mut) {
        for operation in operation.values_mut() {
            let Some(id) = operation.get("operationId").and_then(Value::as_str) else {
                continue;
            };
            let id = id.to_string();
            for spec in LINKS.iter().filter(|l| l.from == id) {
                let Some(response) = operation
                    .pointer_mut(&format!("/responses/{}", spec.status))
                    .and_then(Value::as_object_mut)
                else {
                    continue;
                };
                let parameters: Map<String, Value> = spec
                    .parameters
                    .iter()
                    .map(|(name, value)| (name.to_string(), Value::from(*value)))
                    .collect();
                let links: Map<String, Value> = spec
                    .to
                    .iter()
                    .map(|target| {
                        let link = json!({"operationId": target, "parameters": parameters});
                        (target.to_string(), link)
                    })
                    .collect();
                response.insert("links".into(), Value::Object(links));
            }
        }
    }
}

/// `GET /health`'s answer.
#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// A delivery of Meta's WhatsApp Business Account webhook (`object:
/// "whatsapp_business_account"`); each change's `value` is Meta's payload for its `field`.
#[derive(ToSchema)]
#[schema(example = json!({
    "object": "whatsapp_business_account",
    "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "5511987654321", "phone_number_id": "106540352242922"},
        "statuses": [{"id": "wamid.HBgM", "status": "delivered", "timestamp": "1795435200",
                      "recipient_id": "5511912345678"}]
    }}]}]
}))]
#[allow(dead_code)]
pub struct WhatsAppWebhook {
    #[schema(example = "whatsapp_business_account")]
    object: String,
    entry: Vec<WhatsAppWebhookEntry>,
}

/// Changes of one WhatsApp Business account.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct WhatsAppWebhookEntry {
    /// The WhatsApp Business account id.
    id: String,
    changes: Vec<WhatsAppWebhookChange>,
}

/// One change: `messages` (statuses and inbound messages), `user_preferences`,
/// `message_template_status_update`, ...
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct WhatsAppWebhookChange {
    #[schema(example = "messages")]
    field: String,
    #[schema(value_type = Object)]
    value: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docs/openapi.json`, from this crate's directory.
    fn committed_path() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
    }

    #[test]
    fn openapi_document_matches_the_committed_one() {
        let generated = document_json();
        let path = committed_path();
        if std::env::var_os("RITMO_UPDATE_OPENAPI").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &generated).unwrap();
            return;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/openapi.json differs from the document the code generates; regenerate it with \
             `RITMO_UPDATE_OPENAPI=1 cargo test -p ritmo-http openapi` and commit it"
        );
    }
}
