//! Serving Ritmo's routers on AWS Lambda behind API Gateway (HTTP API) or a function URL, and
//! the sender's handler.
//!
//! API Gateway's JWT authorizer validates the bearer token before the function runs; this
//! crate copies the authorizer's claims from the request context into [`VerifiedClaims`],
//! which `ritmo_http::Auth::authorizer_context()` reads.

pub mod apps;
pub mod inbound;
pub mod jobs;
pub mod metrics;
pub mod sender;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use lambda_http::request::RequestContext;
use lambda_http::RequestExt;
use ritmo_http::VerifiedClaims;

/// The JWT-authorizer claims of an API Gateway HTTP API request, if any.
pub fn verified_claims(request: &Request) -> Option<VerifiedClaims> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV2(context) => {
            let jwt = context.authorizer.as_ref()?.jwt.as_ref()?;
            Some(VerifiedClaims(jwt.claims.clone()))
        }
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

async fn copy_claims(mut request: Request, next: Next) -> Response {
    if let Some(claims) = verified_claims(&request) {
        request.extensions_mut().insert(claims);
    }
    next.run(request).await
}

/// Wraps a finished router so that authorizer claims reach the auth layer.
pub fn with_authorizer_claims(router: axum::Router) -> axum::Router {
    router.layer(axum::middleware::from_fn(copy_claims))
}

/// Runs the router as the Lambda function's handler.
pub async fn serve(router: axum::Router) -> Result<(), lambda_http::Error> {
    lambda_http::run(with_authorizer_claims(router)).await
}

/// JSON logs to stdout (CloudWatch), level from `RUST_LOG` (default `info`).
pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_current_span(false)
        .without_time()
        .init();
}
