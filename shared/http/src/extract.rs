//! Request extractors that turn every malformed input into a problem naming the field.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::StatusCode;
use base64::Engine;
use ritmo_core::common::page::PageRequest;
use serde::de::DeserializeOwned;
use std::marker::PhantomData;
use ulid::Ulid;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::Required;
use utoipa::IntoParams;

use crate::problem::Problem;

/// A JSON body, deserialized with the path of the first bad field in the error.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers().get(CONTENT_TYPE)) {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "the body must be JSON (Content-Type: application/json)",
            ));
        }
        let bytes = body_bytes(req, state).await?;
        parse_json(&bytes).map(Json)
    }
}

pub fn is_json(content_type: Option<&axum::http::HeaderValue>) -> bool {
    let Some(value) = content_type.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The raw body bytes (a signed webhook is checked on exactly these), within the route's size
/// limit; too large is a 413 problem.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        body_bytes(req, state).await.map(RawBody)
    }
}

/// The whole body, within the router's size limit.
pub async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, Problem> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "the request body is too large",
            )
        } else {
            Problem::bad_request("body", "could not read the request body")
        }
    })
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    // A syntax error is about the whole document, wherever the parser stopped.
    let mut value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| Problem::bad_request("body", format!("is not valid JSON ({e})")))?;
    integral_floats_as_integers(&mut value);
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let message = clean_serde_message(&error.into_inner().to_string());
        let field = if path == "." {
            "body".to_string()
        } else {
            path
        };
        Problem::bad_request(&field, message)
    })
}

/// JSON Schema counts `2.0` as an integer, so the API does too: a number with no fraction is
/// read as the integer it spells (within the range a double holds exactly).
fn integral_floats_as_integers(value: &mut serde_json::Value) {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    match value {
        serde_json::Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64() {
                if f.fract() == 0.0 && f.abs() <= EXACT {
                    *n = serde_json::Number::from(f as i64);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(integral_floats_as_integers),
        serde_json::Value::Object(fields) => {
            fields.values_mut().for_each(integral_floats_as_integers)
        }
        _ => {}
    }
}

/// serde's messages end with " at line L column C": drop that, it means nothing to a caller.
fn clean_serde_message(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_string(),
        None => message.to_string(),
    }
}

/// Path parameters. A segment that does not decode (not UTF-8 once percent-decoded) names no
/// resource, so it is a 404 problem like any other unknown id, never axum's plain-text 400.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Path(value))
            .map_err(|rejection| {
                tracing::debug!(error = %rejection, "undecodable path parameter");
                Problem::not_found("resource")
            })
    }
}

/// A kind of resource named by a ULID in the path: its name in errors and documentation, and the
/// path parameter that carries it.
pub trait Resource {
    const NAME: &'static str;
    const PARAM: &'static str = "id";
}

/// The resources the API names in its paths.
pub mod ids {
    macro_rules! resource {
        ($(#[$doc:meta])* $kind:ident, $name:literal $(, $param:literal)?) => {
            $(#[$doc])*
            pub enum $kind {}
            impl super::Resource for $kind {
                const NAME: &'static str = $name;
                $(const PARAM: &'static str = $param;)?
            }
        };
    }
    resource!(/// `{id}` of `/v1/channels/{id}`.
        Channel, "channel");
    resource!(/// `{id}` of `/v1/bots/{id}`.
        Bot, "bot");
    resource!(/// `{id}` of `/v1/sequences/{id}`.
        Sequence, "sequence");
    resource!(/// `{step_id}` of `/v1/sequences/{id}/steps/{step_id}`.
        Step, "step", "step_id");
    resource!(/// `{id}` of `/v1/jobs/{id}`.
        Job, "job");
}

/// The ULID of a `K` from the path. Anything that is not a ULID cannot name a resource, so it
/// is a 404 naming the kind, like any other unknown id.
pub struct Id<K>(pub Ulid, pub PhantomData<K>);

impl<K> Id<K> {
    pub fn get(&self) -> Ulid {
        self.0
    }
}

impl<S: Send + Sync, K: Resource> FromRequestParts<S> for Id<K> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| Problem::not_found(K::NAME))?;
        params
            .iter()
            .find(|(key, _)| *key == K::PARAM)
            .and_then(|(_, value)| Ulid::from_string(value).ok())
            .map(|id| Id(id, PhantomData))
            .ok_or_else(|| Problem::not_found(K::NAME))
    }
}

impl<K: Resource> IntoParams for Id<K> {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let schema = ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::Custom("ulid".into())));
        vec![ParameterBuilder::new()
            .name(K::PARAM)
            .parameter_in(ParameterIn::Path)
            .required(Required::True)
            .description(Some(format!("The {}'s id.", K::NAME)))
            .schema(Some(schema))
            .build()]
    }
}

/// `?limit=&cursor=`. Cursors handed out are the store's, base64url-encoded so they stay opaque.
pub struct ListQuery(pub PageRequest);

/// The query parameters [`ListQuery`] reads, as the API documents them.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200, default = 50)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page (base64url); any other is a 400 naming `cursor`.
    /// Empty: the first page.
    #[param(pattern = "^[A-Za-z0-9_-]*$")]
    pub cursor: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for ListQuery {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let mut limit = None;
        let mut cursor = None;
        for (key, value) in query_pairs(parts.uri.query()) {
            match key.as_str() {
                "limit" => {
                    limit = Some(value.parse::<u32>().map_err(|_| {
                        Problem::bad_request("limit", "must be a whole number between 1 and 200")
                    })?)
                }
                "cursor" if !value.is_empty() => cursor = Some(decode_cursor(&value)?),
                _ => {}
            }
        }
        Ok(ListQuery(
            PageRequest::new(limit, cursor).map_err(Problem::from)?,
        ))
    }
}

pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query.map(|q| url_pairs(q).collect()).unwrap_or_default()
}

fn url_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k), percent_decode(v))
    })
}

/// Decodes `%XX` and `+` of a query component; invalid escapes are kept as they are.
pub fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                    16,
                ) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn encode_cursor(raw: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_cursor(encoded: &str) -> Result<String, Problem> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| Problem::bad_request("cursor", "is not a cursor this API handed out"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_handles_plus_escapes_and_bad_escapes() {
        assert_eq!(percent_decode("%2B5511+x%20y"), "+5511 x y");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%C3%A9"), "é");
    }

    #[test]
    fn json_errors_name_the_field() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Input {
            name: String,
            nested: Vec<Inner>,
        }
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Inner {
            amount: u32,
        }
        let error =
            parse_json::<Input>(br#"{"name": "x", "nested": [{"amount": -1}]}"#).unwrap_err();
        assert_eq!(error.status, 400);
        assert_eq!(error.errors[0].field, "nested[0].amount");
        let error = parse_json::<Input>(b"{").unwrap_err();
        assert_eq!(error.errors[0].field, "body");
    }

    #[test]
    fn integers_written_with_a_zero_fraction_are_integers() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Input {
            amount: u32,
            nested: Vec<Option<usize>>,
            ratio: f64,
        }
        let input =
            parse_json::<Input>(br#"{"amount": 2.0, "nested": [0.0, null, 1e2], "ratio": 2.0}"#)
                .unwrap();
        assert_eq!(
            input,
            Input {
                amount: 2,
                nested: vec![Some(0), None, Some(100)],
                ratio: 2.0
            }
        );
        let error =
            parse_json::<Input>(br#"{"amount": 2.5, "nested": [], "ratio": 1}"#).unwrap_err();
        assert_eq!(error.status, 400);
        assert_eq!(error.errors[0].field, "amount");
    }
}
