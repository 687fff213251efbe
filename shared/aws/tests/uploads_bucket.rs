//! Upload links on S3, on the emulator (`RITMO_TEST_DYNAMODB_ENDPOINT`, which serves S3 too;
//! skipped with a message without it): a client `PUT`s a file to the pre-signed link with no
//! credentials of its own; the job reads it back by ranges conditioned on the ETag S3's event
//! named; a file replaced under the link is refused, never read; deleting it is final.

use chrono::{TimeDelta, Utc};
use ritmo_aws::s3_uploads::{object_key, parse_key, S3Uploads, UploadEvent};
use ritmo_core::common::tenant::TenantId;
use ritmo_core::jobs::FileUploads;
use ulid::Ulid;

struct World {
    s3: aws_sdk_s3::Client,
    bucket: String,
    uploads: S3Uploads,
}

async fn world() -> Option<World> {
    let Ok(endpoint) = std::env::var("RITMO_TEST_DYNAMODB_ENDPOINT") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "RITMO_TEST_DYNAMODB_ENDPOINT must be set under CI: the upload tests may not be skipped"
        );
        eprintln!("skipped: RITMO_TEST_DYNAMODB_ENDPOINT is not set (infra/test.sh sets it)");
        return None;
    };
    let sdk = ritmo_aws::local::sdk_config_for_endpoint(&endpoint).await;
    let config = aws_sdk_s3::config::Builder::from(&sdk)
        .force_path_style(true)
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(config);
    let bucket = format!("ritmo-imports-{}", Ulid::new().to_string().to_lowercase());
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    Some(World {
        uploads: S3Uploads::new(s3.clone(), &bucket),
        s3,
        bucket,
    })
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
async fn a_file_put_to_the_link_is_read_back_by_ranges_and_deleted() {
    let Some(world) = world().await else { return };
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
        let part = world
            .uploads
            .read(&tenant, job, &tag, start, 7)
            .await
            .unwrap()
            .unwrap();
        assert!(part.len() <= 7);
        read.extend(part);
    }
    assert_eq!(read, FILE, "the ranges make up the file");
    let past = world
        .uploads
        .read(&tenant, job, &tag, FILE.len() as u64 + 10, 7)
        .await
        .unwrap()
        .unwrap();
    assert!(past.is_empty(), "past the end there is nothing");

    // Replaced under the same link: the job refuses to read a file it did not check.
    assert!(put(&url, b"phone\n+5511999999999\n").await.is_success());
    let error = world
        .uploads
        .read(&tenant, job, &tag, 0, 7)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("replaced"), "{error}");

    world.uploads.delete(&tenant, job).await.unwrap();
    assert_eq!(
        world.uploads.read(&tenant, job, &tag, 0, 7).await.unwrap(),
        None
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
