//! `webhook-worker`: consumes the notification queue the webhook fills (an SQS event source
//! mapping), applying statuses, replies, opt-outs and template events. Wiring only; the
//! handler is `ritmo_lambda::inbound::handle`.

use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    ritmo_lambda::init_tracing();
    ritmo_aws::deployment::resolve_secrets().await?;
    let inbound = Arc::new(ritmo_aws::inbound_from_env().await?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let inbound = inbound.clone();
        async move {
            Ok::<_, lambda_runtime::Error>(ritmo_lambda::inbound::handle(&inbound, event).await)
        }
    }))
    .await
}
