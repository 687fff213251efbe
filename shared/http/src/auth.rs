//! Bearer-token authentication and the admin/viewer rule.
//!
//! In AWS, API Gateway's JWT authorizer has already validated the token; the Lambda adapter
//! puts the authorizer's claims in the request as [`VerifiedClaims`] and this layer only reads
//! them. The local server validates HS256 tokens itself with its secret.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ritmo_core::common::tenant::{Principal, Role, TenantId};
use serde_json::Value;

use crate::problem::Problem;

/// Claims that an upstream authorizer already verified.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VerifiedClaims(pub HashMap<String, String>);

#[derive(Clone)]
enum Mode {
    Hs256 {
        key: Arc<DecodingKey>,
        validation: Arc<Validation>,
    },
    AuthorizerContext,
}

#[derive(Clone)]
pub struct Auth {
    mode: Mode,
    tenant_claim: Arc<str>,
    role_claim: Arc<str>,
}

impl Auth {
    /// Validates HS256 tokens (claims `tenant`, `role`, `exp`) with `secret`.
    pub fn hs256(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp"]);
        validation.leeway = 30;
        Self {
            mode: Mode::Hs256 {
                key: Arc::new(DecodingKey::from_secret(secret)),
                validation: Arc::new(validation),
            },
            tenant_claim: "tenant".into(),
            role_claim: "role".into(),
        }
    }

    /// Trusts the claims an upstream authorizer placed in the request ([`VerifiedClaims`]).
    pub fn authorizer_context() -> Self {
        Self {
            mode: Mode::AuthorizerContext,
            tenant_claim: "tenant".into(),
            role_claim: "role".into(),
        }
    }

    /// Reads the tenant and role from other claim names (e.g. `custom:tenant`).
    pub fn with_claim_names(mut self, tenant: &str, role: &str) -> Self {
        self.tenant_claim = tenant.into();
        self.role_claim = role.into();
        self
    }

    fn principal(&self, parts: &Parts) -> Result<Principal, Problem> {
        let claims: HashMap<String, String> = match &self.mode {
            Mode::AuthorizerContext => parts
                .extensions
                .get::<VerifiedClaims>()
                .map(|c| c.0.clone())
                .ok_or_else(|| Problem::unauthorized("no verified token claims on the request"))?,
            Mode::Hs256 { key, validation } => {
                let token = bearer(parts)?;
                let data = jsonwebtoken::decode::<HashMap<String, Value>>(token, key, validation)
                    .map_err(|e| Problem::unauthorized(token_error(&e)))?;
                data.claims
                    .into_iter()
                    .filter_map(|(k, v)| match v {
                        Value::String(s) => Some((k, s)),
                        _ => None,
                    })
                    .collect()
            }
        };
        let tenant = claims.get(&*self.tenant_claim).ok_or_else(|| {
            Problem::unauthorized(format!("the token has no '{}' claim", self.tenant_claim))
        })?;
        let tenant = TenantId::parse(tenant).map_err(|e| {
            Problem::unauthorized(format!("the '{}' claim is invalid: {e}", self.tenant_claim))
        })?;
        let role = claims
            .get(&*self.role_claim)
            .and_then(|r| Role::parse(r))
            .ok_or_else(|| {
                Problem::forbidden(format!(
                    "the token's '{}' claim must be admin or viewer",
                    self.role_claim
                ))
            })?;
        Ok(Principal { tenant, role })
    }
}

fn bearer(parts: &Parts) -> Result<&str, Problem> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| Problem::unauthorized("missing Authorization: Bearer token"))?;
    let value = value
        .to_str()
        .map_err(|_| Problem::unauthorized("malformed Authorization header"))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(Problem::unauthorized(
            "the Authorization header must be 'Bearer <token>'",
        )),
    }
}

fn token_error(error: &jsonwebtoken::errors::Error) -> &'static str {
    use jsonwebtoken::errors::ErrorKind;
    match error.kind() {
        ErrorKind::ExpiredSignature => "the token has expired",
        ErrorKind::InvalidSignature => "the token's signature is invalid",
        ErrorKind::InvalidAlgorithm => "the token must be signed with HS256",
        ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim (exp)",
        _ => "the token is malformed",
    }
}

/// Middleware: authenticates the caller, lets a `viewer` only read, and puts the
/// [`Principal`] in the request for the handlers.
pub async fn require_auth(State(auth): State<Auth>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let principal = match auth.principal(&parts) {
        Ok(principal) => principal,
        Err(problem) => return problem.into_response(),
    };
    if !principal.role.can_write() && !matches!(parts.method, Method::GET | Method::HEAD) {
        return Problem::forbidden("a viewer token may only read").into_response();
    }
    parts.extensions.insert(principal);
    next.run(Request::from_parts(parts, body)).await
}

/// The authenticated caller, for handlers behind [`require_auth`].
pub struct Caller(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Caller)
            .ok_or_else(|| Problem::unauthorized("not authenticated"))
    }
}

/// Issues an HS256 token for the local server and tests.
pub fn issue_hs256(secret: &[u8], tenant: &str, role: Role, ttl: chrono::Duration) -> String {
    let exp = (chrono::Utc::now() + ttl).timestamp();
    let role = match role {
        Role::Admin => "admin",
        Role::Viewer => "viewer",
    };
    let claims = serde_json::json!({"tenant": tenant, "role": role, "exp": exp, "sub": format!("{tenant}-{role}")});
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .expect("HS256 encoding cannot fail")
}
