//! Upload links on S3, on the emulator (`RITMO_TEST_DYNAMODB_ENDPOINT`, which serves S3 too;
//! `#[ignore]`d without it): a client `PUT`s a file to the pre-signed link with no
//! credentials of its own; the job reads it back by ranges conditioned on the ETag S3's event
//! named; a file replaced under the link is refused, never read; deleting it is final.

mod common;

use chrono::{TimeDelta, Utc};
use ritmo_aws::s3_uploads::{object_key, parse_key, S3Uploads, UploadEvent};
use ritmo_core::common::tenant::TenantId;
use ritmo_core::jobs::{FileUploads, UploadRead};
use ulid::Ulid;

struct World {
    s3: aws_sdk_s3::Client,
    bucket: String,
    uploads: S3Uploads,
}

async fn world() -> World {
    let endpoint = ritmo_aws::local::emulator_endpoint("RITMO_TEST_DYNAMODB_ENDPOINT");
    let sdk = ritmo_aws::local::sdk_config_for_endpoint(&endpoint).await;
    let config = aws_sdk_s3::config::Builder::from(&sdk)
        .force_path_style(true)
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(config);
    let bucket = format!("ritmo-imports-{}", Ulid::new().to_string().to_lowercase());
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    World {
        uploads: S3Uploads::new(s3.clone(), &bucket),
        s3,
        bucket,
    }
}

impl World {
    async fn etag(&self, tenant: &TenantId, job: Ulid) -> String {
        let head = self
            .s3
            .head_object()
            .bucket(&self.bucket)
            .key(object_key(tenant, job))
            .send()
            .await
            .unwrap();
        head.e_tag().unwrap().trim_matches('"').to_string()
    }
}

/// `PUT`s `body` to `url` as a client would: no credentials, no SDK.
async fn put(url: &str, body: &'static [u8]) -> reqwest::StatusCode {
    reqwest::Client::new()
        .put(url)
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
}

const FILE: &[u8] = b"phone;name\n+5511987654321;Ana\n+5511987654322;Bia\n";

#[tokio::test]
#[ignore = "needs the AWS emulator: infra/test.sh runs it"]
async fn a_file_put_to_the_link_is_read_back_by_ranges_and_deleted() {
    let world = world().await;
    let tenant = TenantId::parse("acme.br").unwrap();
    let job = Ulid::new();
    let url = world
        .uploads
        .upload_url(&tenant, job, Utc::now() + TimeDelta::minutes(15))
        .await
        .unwrap();
    assert!(url.contains("X-Amz-Signature="), "a pre-signed URL: {url}");
    assert!(url.contains("X-Amz-Expires=900"), "valid 15 minutes: {url}");
    assert!(url.contains(&object_key(&tenant, job)), "{url}");
    assert!(put(&url, FILE).await.is_success());

    let tag = world.etag(&tenant, job).await;
    let mut read = Vec::new();
    for start in (0..FILE.len() as u64).step_by(7) {
        let UploadRead::Bytes(part) = world
            .uploads
            .read(&tenant, job, &tag, start, 7)
            .await
            .unwrap()
        else {
            panic!("no bytes at {start}");
        };
        assert!(part.len() <= 7);
        read.extend(part);
    }
    assert_eq!(read, FILE, "the ranges make up the file");
    let past = world
        .uploads
        .read(&tenant, job, &tag, FILE.len() as u64 + 10, 7)
        .await
        .unwrap();
    assert_eq!(
        past,
        UploadRead::Bytes(Vec::new()),
        "past the end there is nothing"
    );

    // Replaced under the same link: the job refuses to read a file it did not check.
    assert!(put(&url, b"phone\n+5511999999999\n").await.is_success());
    assert_eq!(
        world.uploads.read(&tenant, job, &tag, 0, 7).await.unwrap(),
        UploadRead::Replaced
    );

    world.uploads.delete(&tenant, job).await.unwrap();
    assert_eq!(
        world.uploads.read(&tenant, job, &tag, 0, 7).await.unwrap(),
        UploadRead::Missing
    );
    world.uploads.delete(&tenant, job).await.unwrap();
}

#[test]
fn the_object_created_event_names_the_job() {
    let tenant = TenantId::parse("acme").unwrap();
    let job = Ulid::new();
    // The shape S3 sends to EventBridge ("Object Created", detail.bucket / detail.object).
    let body = serde_json::json!({
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "111122223333",
        "time": "2026-11-23T12:05:00Z",
        "region": "sa-east-1",
        "resources": ["arn:aws:s3:::ritmo-imports"],
        "detail": {
            "version": "0",
            "bucket": {"name": "ritmo-imports"},
            "object": {
                "key": object_key(&tenant, job),
                "size": 5_242_880,
                "etag": "b1946ac92492d2347c6235b4d2611184",
                "sequencer": "00617F08299329D189"
            },
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "123456789012",
            "source-ip-address": "177.55.10.1",
            "reason": "PutObject"
        }
    })
    .to_string();
    let event = UploadEvent::parse(&body).expect("an upload event");
    assert_eq!(event.job(), Some((tenant, job)));
    assert_eq!(event.detail.object.size, 5_242_880);
    assert_eq!(event.detail.object.etag, "b1946ac92492d2347c6235b4d2611184");
    // A job message is not an upload event; nor is a key the bucket should not hold.
    assert!(
        UploadEvent::parse(r#"{"tenant":"acme","job_id":"01JD8X4Z2W6Q4T1N7K3M5P9R2B"}"#).is_none()
    );
    assert_eq!(parse_key("imports/acme/not-a-job.csv"), None);
    assert_eq!(parse_key("other/acme/01JD8X4Z2W6Q4T1N7K3M5P9R2B.csv"), None);
    assert_eq!(
        parse_key("imports/bad tenant/01JD8X4Z2W6Q4T1N7K3M5P9R2B.csv"),
        None
    );
}

/// The stack's path end to end on the emulator: the link from `{"upload": true}`, the file
/// `PUT` to it, S3's event read as job-worker reads it, the job on the table reading the
/// object by ranges (more than one), every row enrolled once, and the object deleted at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator: infra/test.sh runs it"]
async fn an_import_uploaded_to_the_bucket_runs_on_the_table_and_its_file_is_deleted() {
    use ritmo_core::channels::model::TemplateCategory;
    use ritmo_core::jobs::{JobKind, JobStatus};
    use serde_json::json;
    use std::sync::Arc;

    let world = world().await;
    let endpoint = std::env::var("RITMO_TEST_DYNAMODB_ENDPOINT").unwrap();
    let sdk = ritmo_aws::local::sdk_config_for_endpoint(&endpoint).await;
    let (store, _) =
        common::store_on_new_table(aws_sdk_dynamodb::Client::new(&sdk), "uploads").await;
    let common::SendWorld {
        ports,
        acme,
        channel_id,
        ..
    } = common::send_world_with(
        &store,
        "boas_vindas",
        TemplateCategory::Utility,
        0,
        |adapters| {
            let stores = &mut adapters.base.stores;
            stores.jobs = store.clone();
            stores.import_files = store.clone();
            adapters.uploads = Some(Arc::new(world.uploads.clone()));
        },
    )
    .await;
    let jobs = ports.job_queue().clone();
    let (sequence, _) = common::active_sequence(
        &ports,
        &acme,
        "Boas-vindas",
        vec![json!({"channel_id": channel_id,
            "action": {"type": "template", "name": "boas_vindas", "language": "pt_BR"},
            "delay": {"amount": 1, "unit": "days"}})],
    )
    .await;

    let started = ports
        .enrollment_service()
        .begin_upload(&acme, sequence.id, JobKind::ImportContacts)
        .await
        .unwrap();
    // 400 rows of about 1 KiB: two ranges of 256 KiB, a row cut between them.
    let note = "x".repeat(1000);
    let mut file = String::from("\u{feff}phone;name;nota\r\n");
    for i in 0..400 {
        file.push_str(&format!("+55 11 97000-{i:04};Cliente {i};{note}\r\n"));
    }
    file.push_str("+55 11 97000-0007;Repetida;x\r\n12345;Sem número;x\r\n");
    let file: &'static [u8] = Box::leak(file.into_bytes().into_boxed_slice());
    assert!(file.len() > 300 * 1024);
    assert!(put(&started.upload_url, file).await.is_success());

    // S3's event, as EventBridge puts it on the job queue.
    let body = json!({
        "version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "Object Created", "source": "aws.s3", "account": "111122223333",
        "time": "2026-11-23T12:05:00Z", "region": "us-east-1",
        "resources": [format!("arn:aws:s3:::{}", world.bucket)],
        "detail": {"version": "0", "bucket": {"name": world.bucket},
            "object": {"key": object_key(&acme, started.job_id), "size": file.len(),
                       "etag": world.etag(&acme, started.job_id).await},
            "request-id": "N4N7GDK58NMKJ12R", "requester": "111122223333", "reason": "PutObject"}
    })
    .to_string();
    let done = UploadEvent::completed(&body).expect("an upload's completion");
    let runner = ports.job_runner();
    runner
        .upload_complete(&done.tenant, done.job_id, done.bytes, &done.tag)
        .await
        .unwrap();
    jobs.run_until_idle().await;

    let job = ports
        .job_service()
        .job(&acme, started.job_id)
        .await
        .unwrap();
    assert_eq!(job.status, JobStatus::Succeeded, "{:?}", job.error);
    assert_eq!((job.total, job.done, job.failed), (402, 401, 1));
    assert_eq!(job.file.as_ref().unwrap().parts(), 2);
    let stats = ports
        .stats_service()
        .sequence_stats(&acme, sequence.id)
        .await
        .unwrap();
    assert_eq!(stats.enrollments["active"], 400, "each phone once");
    assert_eq!(
        world
            .uploads
            .read(&acme, started.job_id, &done.tag, 0, 7)
            .await
            .unwrap(),
        UploadRead::Missing,
        "the object is deleted once the job is done"
    );
}
