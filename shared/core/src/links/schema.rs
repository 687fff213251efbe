//! The documented shapes of a link request ([`super::LinkInput`] reads them all): a `whatsapp`
//! or a `rotator` link, each with only its own fields. `POST` names the slug and type; `PUT`
//! may leave them out (the link keeps its own) and must send the fields of the link's type.

use serde_json::{json, Value};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use super::input::{MemberInput, PreviewInput, MAX_MESSAGE_CHARS, MAX_STICKY_DAYS, MAX_TEXT_CHARS};
use super::MAX_MEMBERS;
use crate::calendar::{ExceptionSpec, TimeZoneName, WindowSpec};
use crate::common::validate::{HTTPS_URL_PATTERN, MULTILINE_PATTERN};

const SLUG_PATTERN: &str = "^[a-z0-9][a-z0-9-]{1,62}$";
/// At least one character that is not white space (what [`str::trim`] removes).
const NOT_BLANK_PATTERN: &str =
    "[^\\u0009-\\u000d\\u0020\\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";

fn nullable_ref(name: &str, description: &str) -> Value {
    json!({"description": description,
           "oneOf": [{"type": "null"}, {"$ref": format!("#/components/schemas/{name}")}]})
}

/// `when_closed`: each kind with only its own fields.
fn when_closed() -> Value {
    json!({
        "description": "What a click gets when nothing is open (default: a page).",
        "oneOf": [
            {"type": "null"},
            {"type": "object", "additionalProperties": false, "required": ["type"],
             "description": "A page with this message and the opening hours.",
             "properties": {
                "type": {"type": "string", "enum": ["page"]},
                "message": {"type": "string", "maxLength": MAX_MESSAGE_CHARS, "pattern": MULTILINE_PATTERN,
                            "description": "At most 500 characters; line breaks are kept."}}},
            {"type": "object", "additionalProperties": false, "required": ["type", "url"],
             "description": "A redirect to this `https` URL.",
             "properties": {
                "type": {"type": "string", "enum": ["redirect"]},
                "url": {"type": "string", "maxLength": 2048, "pattern": HTTPS_URL_PATTERN}}},
            {"type": "object", "additionalProperties": false, "required": ["type"],
             "description": "Rotate among the enabled members as if they were open.",
             "properties": {"type": {"type": "string", "enum": ["ignore_hours"]}}}
        ]
    })
}

fn variant(kind: &str, new: bool) -> Value {
    let mut properties = serde_json::Map::new();
    properties.insert(
        "slug".into(),
        json!({"type": if new { json!("string") } else { json!(["string", "null"]) },
               "pattern": SLUG_PATTERN, "example": if kind == "whatsapp" { "ana" } else { "mystore" },
               "description": if new {
                   "Unique across tenants; `v1`, `webhooks`, `health` and `console` are reserved (a reserved or taken slug is a 409)."
               } else {
                   "May be left out; if given, the link's own (another is a 409)."
               }}),
    );
    properties.insert(
        "type".into(),
        if new {
            json!({"type": "string", "enum": [kind]})
        } else {
            json!({"description": "May be left out; if given, the link's own (another is a 409).",
                   "oneOf": [{"type": "null"}, {"type": "string", "enum": [kind]}]})
        },
    );
    let required: Vec<&str> = match kind {
        "whatsapp" => {
            properties.insert(
                "phone".into(),
                json!({"type": "string", "maxLength": 32, "pattern": NOT_BLANK_PATTERN, "example": "+5511987654321",
                       "description": "The attendant's international number (`+` and country code); one that is not a valid number is a 422."}),
            );
            properties.insert(
                "text".into(),
                json!({"type": ["string", "null"], "maxLength": MAX_TEXT_CHARS, "pattern": MULTILINE_PATTERN,
                       "example": "Olá!", "description": "The message the chat opens with; line breaks are kept."}),
            );
            vec!["phone"]
        }
        _ => {
            properties.insert(
                "members".into(),
                json!({"type": "array", "minItems": 1, "maxItems": MAX_MEMBERS,
                       "items": {"$ref": "#/components/schemas/MemberInput"},
                       "description": "`whatsapp` links of the same tenant, in rotation order (a link that does not exist, or one listed twice, is a 422)."}),
            );
            properties.insert(
                "sticky".into(),
                json!({"type": ["boolean", "null"], "description": "A returning customer goes to the same member (default `false`)."}),
            );
            properties.insert(
                "sticky_days".into(),
                json!({"type": ["integer", "null"], "minimum": 1, "maximum": MAX_STICKY_DAYS,
                       "description": "How long a customer is remembered, in days (default 30)."}),
            );
            vec!["members"]
        }
    };
    properties.insert(
        "hours".into(),
        nullable_ref("WindowSpec", "Opening hours (none: always open)."),
    );
    properties.insert("when_closed".into(), when_closed());
    properties.insert(
        "preview".into(),
        nullable_ref("PreviewInput", "What link-preview crawlers show."),
    );
    let mut required = required;
    if new {
        required.splice(0..0, ["slug", "type"]);
    }
    json!({"type": "object", "additionalProperties": false,
           "required": required, "properties": properties})
}

fn variant_name(kind: &str, new: bool) -> String {
    match (kind, new) {
        ("whatsapp", true) => "NewWhatsappLink",
        (_, true) => "NewRotatorLink",
        ("whatsapp", false) => "WhatsappLinkReplacement",
        _ => "RotatorLinkReplacement",
    }
    .to_string()
}

fn schema(new: bool, description: &str, example: Value) -> RefOr<Schema> {
    let reference =
        |kind: &str| json!({"$ref": format!("#/components/schemas/{}", variant_name(kind, new))});
    let mut value = json!({
        "description": description,
        "oneOf": [reference("whatsapp"), reference("rotator")],
        "example": example,
    });
    if new {
        value["discriminator"] = json!({"propertyName": "type", "mapping": {
            "whatsapp": format!("#/components/schemas/{}", variant_name("whatsapp", true)),
            "rotator": format!("#/components/schemas/{}", variant_name("rotator", true)),
        }});
    }
    serde_json::from_value(value).expect("a valid link schema")
}

fn variants(new: bool, schemas: &mut Vec<(String, RefOr<Schema>)>) {
    for kind in ["whatsapp", "rotator"] {
        let schema = serde_json::from_value(variant(kind, new)).expect("a valid link schema");
        schemas.push((variant_name(kind, new), schema));
    }
}

fn dependencies(schemas: &mut Vec<(String, RefOr<Schema>)>) {
    schemas.push((MemberInput::name().into(), MemberInput::schema()));
    schemas.push((PreviewInput::name().into(), PreviewInput::schema()));
    schemas.push((WindowSpec::name().into(), WindowSpec::schema()));
    schemas.push((ExceptionSpec::name().into(), ExceptionSpec::schema()));
    schemas.push((TimeZoneName::name().into(), TimeZoneName::schema()));
}

/// The body of `POST /v1/links`.
pub struct NewLink;

impl PartialSchema for NewLink {
    fn schema() -> RefOr<Schema> {
        schema(
            true,
            "A `whatsapp` link (`phone`, `text`) or a `rotator` (`members`, `sticky`, `sticky_days`); both take `hours`, `when_closed` and `preview`.",
            json!({
                "slug": "mystore", "type": "rotator",
                "members": [{"link": "ana"}, {"link": "bia", "weight": 2}], "sticky": true, "sticky_days": 30,
                "hours": {"time_zone": "America/Sao_Paulo", "days": {"mon": [["09:00", "18:00"]]}},
                "when_closed": {"type": "page", "message": "Voltamos às 9h"},
                "preview": {"title": "Minha Loja", "description": "Fale com a gente no WhatsApp"}
            }),
        )
    }
}

impl ToSchema for NewLink {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        variants(true, schemas);
        dependencies(schemas);
    }
}

/// The body of `PUT /v1/links/{slug}`.
pub struct LinkReplacement;

impl PartialSchema for LinkReplacement {
    fn schema() -> RefOr<Schema> {
        schema(
            false,
            "The link's new fields, all of them, for its own type: a field of the other type is a 409, as is another `slug` or `type`.",
            json!({
                "members": [{"link": "ana"}, {"link": "bia", "weight": 2}], "sticky": true,
                "when_closed": {"type": "page", "message": "Voltamos às 9h"}
            }),
        )
    }
}

impl ToSchema for LinkReplacement {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        variants(false, schemas);
        dependencies(schemas);
    }
}
