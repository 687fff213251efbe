//! `job-worker`: consumes the job queue, running one chunk of a background job per message and
//! queueing the next, and starting the jobs whose file was uploaded to the imports bucket (S3's
//! events reach the same queue). Wiring only: config → adapters → app → run.

use ritmo_aws::{deployment as aws, s3_uploads::UploadEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    ritmo_lambda::init_tracing();
    let sdk = aws::load().await?;
    let base = ritmo_app::Base::system(ritmo_app::Stores::of(aws::dynamo_store(&sdk)?));
    let scheduler = aws::scheduler(&sdk, base.clock.clone())?;
    let (queue, uploads) = (aws::job_queue(&sdk), aws::uploads(&sdk));
    let runner = ritmo_app::job_worker(&base, scheduler, queue, uploads);
    ritmo_lambda::jobs::run(runner, UploadEvent::completed).await
}
