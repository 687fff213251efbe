//! `sender`: the target of every one-shot schedule. Sends one step to one contact and
//! schedules the next. Wiring only; the handler is `ritmo_lambda::sender::handle`.

use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    ritmo_lambda::init_tracing();
    let sender = ritmo_aws::ports_from_env().await?.sender();
    let sender = &sender;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            ritmo_lambda::sender::handle(sender, event).await
        },
    ))
    .await
}
