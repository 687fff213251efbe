//! `job-worker`: consumes the job queue (an SQS event source mapping), running one chunk of a
//! background job per message and queueing the next, and starting the jobs whose file was
//! uploaded to the imports bucket (S3's events reach the same queue). Wiring only; the handler is
//! `ritmo_lambda::jobs::handle_with_uploads`.

use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    ritmo_lambda::init_tracing();
    ritmo_aws::deployment::resolve_secrets().await?;
    let runner = Arc::new(ritmo_aws::job_runner_from_env().await?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let runner = runner.clone();
        async move {
            Ok::<_, lambda_runtime::Error>(
                ritmo_lambda::jobs::handle_with_uploads(
                    &runner,
                    event,
                    ritmo_aws::s3_uploads::UploadEvent::completed,
                )
                .await,
            )
        }
    }))
    .await
}
