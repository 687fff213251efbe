//! Access tokens and bot secrets sealed with a KMS data key in their items, on the emulator
//! (`RITMO_TEST_DYNAMODB_ENDPOINT`, which serves KMS too;
//! `#[ignore]`d without the emulator).

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{TimeZone, Utc};
use ritmo_aws::dynamo::keys;
use ritmo_aws::secrets::{is_sealed, KmsCipher};
use ritmo_aws::{CursorKey, DynamoStore, StoreConfig};
use ritmo_core::channels::model::{Bot, Channel};
use ritmo_core::channels::store::{BotStore, ChannelStore};
use ritmo_core::common::page::PageRequest;
use ritmo_core::common::secret::Secret;
use ritmo_core::common::tenant::TenantId;
use ulid::Ulid;

struct World {
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
    sealing: DynamoStore,
    plain: DynamoStore,
}

async fn world() -> World {
    let endpoint = ritmo_aws::local::emulator_endpoint("RITMO_TEST_DYNAMODB_ENDPOINT");
    let sdk = ritmo_aws::local::sdk_config_for_endpoint(&endpoint).await;
    let kms = aws_sdk_kms::Client::new(&sdk);
    let key = kms.create_key().send().await.unwrap();
    let key_id = key.key_metadata().unwrap().arn().unwrap().to_string();
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let table = format!("ritmo-sealed-{}", Ulid::new().to_string().to_lowercase());
    let config = StoreConfig {
        table: table.clone(),
        cursor_key: CursorKey::random(),
    };
    let plain = DynamoStore::new(dynamodb.clone(), config.clone());
    assert!(plain.create_table_if_missing().await.unwrap());
    let sealing = DynamoStore::new(dynamodb.clone(), config)
        .with_secrets(Arc::new(KmsCipher::new(kms, key_id)));
    World {
        dynamodb,
        table,
        sealing,
        plain,
    }
}

impl World {
    /// The stored attribute, as the table keeps it.
    async fn raw(&self, pk: String, sk: String, attribute: &str) -> String {
        let item = self
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk))
            .key("sk", AttributeValue::S(sk))
            .send()
            .await
            .unwrap()
            .item
            .unwrap();
        item[attribute].as_s().unwrap().clone()
    }

    async fn set_raw(&self, pk: String, sk: String, attribute: &str, value: String) {
        self.dynamodb
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk))
            .key("sk", AttributeValue::S(sk))
            .update_expression("SET #a = :v")
            .expression_attribute_names("#a", attribute)
            .expression_attribute_values(":v", AttributeValue::S(value))
            .send()
            .await
            .unwrap();
    }
}

fn channel(tenant: &TenantId, number: &str, token: &str) -> Channel {
    let at = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
    Channel {
        tenant: tenant.clone(),
        id: Ulid::new(),
        name: "Loja".into(),
        phone_number_id: number.into(),
        waba_id: "2098765432".into(),
        display_phone: "+55 11 4000-0000".into(),
        access_token: Secret::new(token),
        messages_per_second: 80,
        created_at: at,
        updated_at: at,
    }
}

#[tokio::test]
#[ignore = "needs the AWS emulator: infra/test.sh runs it"]
async fn tokens_and_bot_secrets_are_sealed_in_the_table_and_open_on_every_read() {
    let w = world().await;
    let acme = TenantId::parse("acme").unwrap();
    let loja = channel(&acme, "1098765432", "EAAG-very-secret-token");
    w.sealing.put_channel(&loja).await.unwrap();

    let stored = w
        .raw(keys::tenant(&acme), keys::channel(loja.id), "access_token")
        .await;
    assert!(is_sealed(&stored), "{stored}");
    assert!(!stored.contains("EAAG"), "the token is not in the item");
    let read = w
        .sealing
        .get_channel(&acme, loja.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.access_token.expose(), "EAAG-very-secret-token");
    let listed = w
        .sealing
        .list_channels(&acme, &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(
        listed.items[0].access_token.expose(),
        "EAAG-very-secret-token"
    );
    let by_number = w
        .sealing
        .channel_by_phone_number_id("1098765432")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_number.access_token.expose(), "EAAG-very-secret-token");
    let by_account = w.sealing.channels_by_waba_id("2098765432").await.unwrap();
    assert_eq!(
        by_account[0].access_token.expose(),
        "EAAG-very-secret-token"
    );
    // A store that cannot open (no key) sees only the sealed value.
    let unopened = w.plain.get_channel(&acme, loja.id).await.unwrap().unwrap();
    assert_eq!(unopened.access_token.expose(), stored);

    // Two writes of the same token seal it differently (a data key and nonce per write).
    w.sealing.put_channel(&loja).await.unwrap();
    let again = w
        .raw(keys::tenant(&acme), keys::channel(loja.id), "access_token")
        .await;
    assert_ne!(again, stored);

    let bot = Bot {
        tenant: acme.clone(),
        id: Ulid::new(),
        name: "Bot".into(),
        webhook_url: "https://bot.example.com/hook".into(),
        secret: Secret::new("0123456789abcdef-bot-secret"),
        created_at: loja.created_at,
        updated_at: loja.created_at,
    };
    w.sealing.put_bot(&bot).await.unwrap();
    let stored = w
        .raw(keys::tenant(&acme), keys::bot(bot.id), "secret")
        .await;
    assert!(
        is_sealed(&stored) && !stored.contains("bot-secret"),
        "{stored}"
    );
    let read = w.sealing.get_bot(&acme, bot.id).await.unwrap().unwrap();
    assert_eq!(read.secret.expose(), "0123456789abcdef-bot-secret");
    let listed = w
        .sealing
        .list_bots(&acme, &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(
        listed.items[0].secret.expose(),
        "0123456789abcdef-bot-secret"
    );
}

#[tokio::test]
#[ignore = "needs the AWS emulator: infra/test.sh runs it"]
async fn a_plain_token_written_before_sealing_still_reads_and_a_sealed_one_opens_only_in_its_own_item(
) {
    let w = world().await;
    let acme = TenantId::parse("acme").unwrap();
    let old = channel(&acme, "1098765400", "EAAG-written-before");
    w.plain.put_channel(&old).await.unwrap();
    let read = w.sealing.get_channel(&acme, old.id).await.unwrap().unwrap();
    assert_eq!(read.access_token.expose(), "EAAG-written-before");
    // Its next write seals it.
    w.sealing.put_channel(&read).await.unwrap();
    assert!(is_sealed(
        &w.raw(keys::tenant(&acme), keys::channel(old.id), "access_token")
            .await
    ));

    // A sealed token copied into another channel's item does not open there.
    let a = channel(&acme, "1098765401", "EAAG-token-of-a");
    let b = channel(&acme, "1098765402", "EAAG-token-of-b");
    w.sealing.put_channel(&a).await.unwrap();
    w.sealing.put_channel(&b).await.unwrap();
    let sealed_a = w
        .raw(keys::tenant(&acme), keys::channel(a.id), "access_token")
        .await;
    w.set_raw(
        keys::tenant(&acme),
        keys::channel(b.id),
        "access_token",
        sealed_a,
    )
    .await;
    let error = w.sealing.get_channel(&acme, b.id).await.unwrap_err();
    assert!(error.to_string().contains("does not open"), "{error}");
}
