//! `links-api`: links and rotators (admin API).
//!
//! Links (rotators, the redirect, link statistics) are not part of this build yet: the
//! function is deployed with its route so the stack is complete, and answers `501` on every
//! path but `/health`. It reads no configuration and makes no AWS client until then.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    ritmo_lambda::init_tracing();
    ritmo_lambda::serve(ritmo_lambda::apps::not_in_this_build("links")).await
}
