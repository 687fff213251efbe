//! `sender`: consumes the step queue every one-shot schedule sends its step job to, sending one
//! step to one contact per message and scheduling the next; once a minute, the reconciler over
//! overdue steps. Wiring only: config → adapters → app → run (`ritmo_lambda::sender::dispatch`).

use std::sync::Arc;

use ritmo_aws::{config, deployment as aws};
use ritmo_whatsapp::{WhatsApp, WhatsAppConfig};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    ritmo_lambda::init_tracing();
    let sdk = aws::load().await?;
    let settings = config::reconcile_settings(&config::Environment)?;
    let base = ritmo_app::Base::system(ritmo_app::Stores::of(aws::dynamo_store(&sdk)?));
    let messenger = Arc::new(WhatsApp::new(WhatsAppConfig::from_env()?)?);
    let scheduler = aws::scheduler(&sdk, base.clock.clone())?;
    let metrics = Arc::new(ritmo_lambda::metrics::EmbeddedMetrics);
    let (sender, reconciler) = ritmo_app::sender(&base, messenger, scheduler, metrics, settings);
    ritmo_lambda::sender::run(sender, reconciler).await
}
