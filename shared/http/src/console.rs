//! `GET /console`: the admin console, one page with its script and styles, embedded in the binary
//! so that the server that answers the API also serves its console with nothing to build or
//! install. The script calls the same `/v1` API with the signed-in user's bearer token; the
//! page itself holds no data and needs no authentication.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use serde::Serialize;

const INDEX: &str = include_str!("../console/index.html");
const SCRIPT: &str = include_str!("../console/app.js");
const STYLES: &str = include_str!("../console/app.css");

/// Where the console is served.
pub const CONSOLE_PATH: &str = "/console";

/// How the console signs a user in, given to it at `/console/config.json`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ConsoleConfig {
    /// The OpenID Connect provider the API's JWT authorizer trusts (authorization code with
    /// PKCE); without one, the user pastes a token (or opens the address the local server prints).
    pub oidc: Option<OidcClient>,
    /// The claims that carry the tenant and the role, as the API reads them.
    pub tenant_claim: String,
    pub role_claim: String,
}

/// A public OIDC client: no secret, PKCE (`S256`) instead.
#[derive(Clone, Debug, Serialize)]
pub struct OidcClient {
    pub authorize_url: String,
    pub token_url: String,
    pub client_id: String,
    /// Where the provider ends the session, if it has such an endpoint (Cognito's `/logout`).
    pub logout_url: Option<String>,
    pub scope: String,
}

impl ConsoleConfig {
    /// Token sign-in, with the API's default claim names.
    pub fn local() -> Self {
        Self {
            oidc: None,
            tenant_claim: "tenant".into(),
            role_claim: "role".into(),
        }
    }
}

/// Only this origin's script and styles, no inline script, no framing; the API is called on the
/// same origin (and the OIDC token endpoint, when there is one), the QR codes are shown from
/// `blob:` URLs.
fn policy(config: &ConsoleConfig) -> HeaderValue {
    let token_origin = config
        .oidc
        .as_ref()
        .and_then(|o| origin_of(&o.token_url))
        .map(|o| format!(" {o}"))
        .unwrap_or_default();
    let policy = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; \
         connect-src 'self'{token_origin}; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    );
    HeaderValue::from_str(&policy).unwrap_or_else(|_| {
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; \
             connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        )
    })
}

/// `https://host[:port]` of an absolute `https` (or loopback `http`) URL.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "https" && scheme != "http" {
        return None;
    }
    let host = rest.split(['/', '?', '#']).next()?;
    let clean = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    clean.then(|| format!("{scheme}://{host}"))
}

/// `GET /console`, `/console/app.js`, `/console/app.css` and `/console/config.json`.
pub fn routes<S: Clone + Send + Sync + 'static>(config: ConsoleConfig) -> Router<S> {
    let policy = policy(&config);
    let settings = serde_json::to_vec(&config).unwrap_or_else(|_| b"{}".to_vec());
    let serve = |content_type: &'static str, body: Bytes| {
        let policy = policy.clone();
        get(move || {
            let (body, policy) = (body.clone(), policy.clone());
            async move { asset(content_type, body, policy) }
        })
    };
    let page = Bytes::from_static(INDEX.as_bytes());
    Router::new()
        .route(
            CONSOLE_PATH,
            serve("text/html; charset=utf-8", page.clone()),
        )
        .route("/console/", serve("text/html; charset=utf-8", page))
        .route(
            "/console/app.js",
            serve(
                "text/javascript; charset=utf-8",
                Bytes::from_static(SCRIPT.as_bytes()),
            ),
        )
        .route(
            "/console/app.css",
            serve(
                "text/css; charset=utf-8",
                Bytes::from_static(STYLES.as_bytes()),
            ),
        )
        .route(
            "/console/config.json",
            serve("application/json", Bytes::from(settings)),
        )
}

fn asset(content_type: &'static str, body: Bytes, policy: HeaderValue) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Revalidated on every load, so a new version shows at once after a deploy.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    #[tokio::test]
    async fn the_console_is_served_with_its_assets_and_a_strict_policy() {
        let app: Router = routes(ConsoleConfig::local());
        for (path, kind, marker) in [
            ("/console", "text/html", "<html lang=\"pt-BR\""),
            ("/console/app.js", "text/javascript", "const MESSAGES"),
            ("/console/app.css", "text/css", "body"),
            ("/console/config.json", "application/json", "\"oidc\":null"),
        ] {
            let response = app
                .clone()
                .oneshot(Request::get(path).body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            let headers = response.headers();
            assert!(headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with(kind));
            let policy = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
            assert!(
                policy.contains("script-src 'self'") && !policy.contains("unsafe"),
                "{policy}"
            );
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            assert!(String::from_utf8_lossy(&body).contains(marker), "{path}");
        }
    }

    #[tokio::test]
    async fn the_policy_lets_the_page_reach_the_token_endpoint_and_nothing_else() {
        let config = ConsoleConfig {
            oidc: Some(OidcClient {
                authorize_url: "https://ritmo.auth.us-east-1.amazoncognito.com/oauth2/authorize"
                    .into(),
                token_url: "https://ritmo.auth.us-east-1.amazoncognito.com/oauth2/token".into(),
                client_id: "abc".into(),
                logout_url: None,
                scope: "openid email".into(),
            }),
            ..ConsoleConfig::local()
        };
        let app: Router = routes(config);
        let response = app
            .oneshot(
                Request::get("/console/config.json")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let policy = response.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            policy.contains("connect-src 'self' https://ritmo.auth.us-east-1.amazoncognito.com;"),
            "{policy}"
        );
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let config: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(config["oidc"]["client_id"], "abc");
        assert_eq!(
            origin_of("https://a.example/x?y"),
            Some("https://a.example".into())
        );
        assert_eq!(origin_of("javascript:alert(1)"), None);
        assert_eq!(origin_of("https://a b/"), None);
    }
}
