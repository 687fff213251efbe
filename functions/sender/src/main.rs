//! `sender`: consumes the step queue (an SQS event source mapping) that every one-shot schedule
//! sends its step job to. Sends one step to one contact per message and schedules the next.
//! Wiring only; the handler is `ritmo_lambda::sender::handle`.

use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{service_fn, LambdaEvent};
use ritmo_core::delivery::ports::StepRunner;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    ritmo_lambda::init_tracing();
    let sender: Arc<dyn StepRunner> = Arc::new(ritmo_aws::ports_from_env().await?.sender());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let sender = sender.clone();
        async move {
            Ok::<_, std::convert::Infallible>(ritmo_lambda::sender::handle(sender, event).await)
        }
    }))
    .await
}
