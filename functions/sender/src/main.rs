//! `sender`: the target of every one-shot schedule. Sends one step to one contact and
//! schedules the next. Wiring only; the handler is `ritmo_lambda::sender::handle`.

use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    ritmo_lambda::init_tracing();
    let ritmo = ritmo_aws::ritmo_from_env().await?;
    let ritmo = &ritmo;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            ritmo_lambda::sender::handle(ritmo, event).await
        },
    ))
    .await
}
