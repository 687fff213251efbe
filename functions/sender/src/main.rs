//! `sender`: consumes the step queue (an SQS event source mapping) that every one-shot schedule
//! sends its step job to, sending one step to one contact per message and scheduling the next;
//! and, once a minute, runs the reconciler over overdue steps. Wiring only; the handlers are
//! `ritmo_lambda::sender::{handle, dispatch}`.

use std::sync::Arc;

use lambda_runtime::{service_fn, LambdaEvent};
use ritmo_core::delivery::ports::StepRunner;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    ritmo_lambda::init_tracing();
    ritmo_aws::deployment::resolve_secrets().await?;
    let mut ports = ritmo_aws::ports_from_env().await?;
    ports.metrics = Arc::new(ritmo_lambda::metrics::EmbeddedMetrics);
    let settings = ritmo_aws::config::reconcile_settings(&ritmo_aws::config::Environment)?;
    let reconciler = Arc::new(ports.reconciler(settings));
    let sender: Arc<dyn StepRunner> = Arc::new(ports.sender());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let (sender, reconciler) = (sender.clone(), reconciler.clone());
        async move { ritmo_lambda::sender::dispatch(sender, &reconciler, event).await }
    }))
    .await
}
