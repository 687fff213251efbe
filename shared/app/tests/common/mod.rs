//! What the request-count tests share: a DynamoDB client that counts every request it sends.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};

/// Requests by operation (`x-amz-target`), each attempt counted.
#[derive(Debug, Default, Clone)]
pub struct Requests(Arc<Mutex<BTreeMap<String, usize>>>);

impl Requests {
    pub fn take(&self) -> BTreeMap<String, usize> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl Intercept for Requests {
    fn name(&self) -> &'static str {
        "count requests"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let operation = context
            .request()
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("?")
            .to_string();
        *self.0.lock().unwrap().entry(operation).or_default() += 1;
        Ok(())
    }
}

pub fn total(requests: &BTreeMap<String, usize>) -> usize {
    requests.values().sum()
}

pub fn writes(requests: &BTreeMap<String, usize>) -> usize {
    requests
        .iter()
        .filter(|(op, _)| {
            matches!(
                op.as_str(),
                "PutItem" | "UpdateItem" | "DeleteItem" | "TransactWriteItems" | "BatchWriteItem"
            )
        })
        .map(|(_, n)| n)
        .sum()
}

/// A client of the emulator at `endpoint` whose requests `requests` counts.
pub async fn counted_client(endpoint: &str, requests: &Requests) -> aws_sdk_dynamodb::Client {
    let sdk = ritmo_aws::local::sdk_config_for_endpoint(endpoint).await;
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(requests.clone())
            .build(),
    )
}

/// DynamoDB's item size: attribute names and values in bytes (numbers at their upper bound).
pub fn item_size(
    item: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
) -> usize {
    use aws_sdk_dynamodb::types::AttributeValue;
    fn value_size(value: &AttributeValue) -> usize {
        match value {
            AttributeValue::S(s) => s.len(),
            AttributeValue::N(_) => 21,
            AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
            AttributeValue::Ss(set) => set.iter().map(String::len).sum(),
            AttributeValue::L(list) => 3 + list.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
            AttributeValue::M(map) => {
                3 + map
                    .iter()
                    .map(|(k, v)| 1 + k.len() + value_size(v))
                    .sum::<usize>()
            }
            _ => 400,
        }
    }
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

/// Ritmo in one process with `store` as every store a send touches (channels, bots, sequences,
/// enrollments, send slots), on the system clock, sending to an outbox and scheduling in
/// process; and `acme`'s channel on them (`1098765432`, 80 messages/s) with `template`, an
/// approved template of `category` taking `body_parameters` parameters, registered.
pub async fn send_world(
    store: &Arc<ritmo_aws::DynamoStore>,
    template: &str,
    category: ritmo_core::channels::model::TemplateCategory,
    body_parameters: u32,
) -> SendWorld {
    send_world_with(store, template, category, body_parameters, |_| {}).await
}

/// [`send_world`] with more adapters replaced by `adapt` before Ritmo is built.
pub async fn send_world_with(
    store: &Arc<ritmo_aws::DynamoStore>,
    template: &str,
    category: ritmo_core::channels::model::TemplateCategory,
    body_parameters: u32,
    adapt: impl FnOnce(&mut ritmo_app::local::LocalAdapters),
) -> SendWorld {
    use ritmo_core::common::clock::{Clock, SystemClock};
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let outbox = Arc::new(ritmo_whatsapp::outbox::Outbox::new(clock.clone()));
    let scheduler = ritmo_memory::LocalScheduler::new(clock.clone());
    let mut adapters = ritmo_app::local::LocalAdapters::in_memory(
        clock.clone(),
        Arc::new(ritmo_core::common::ids::UlidGen::new(clock)),
        outbox.clone(),
        scheduler.clone(),
    );
    let stores = &mut adapters.base.stores;
    stores.channels = store.clone();
    stores.bots = store.clone();
    stores.sequences = store.clone();
    stores.enrollments = store.clone();
    stores.slots = store.clone();
    adapt(&mut adapters);
    let ports = ritmo_app::local::Local::new(adapters);
    let acme = ritmo_core::common::tenant::TenantId::parse("acme").unwrap();
    let channel = ports
        .channel_service()
        .create_channel(
            &acme,
            serde_json::from_value(serde_json::json!({"name": "Loja",
                "phone_number_id": "1098765432", "waba_id": "2098765432",
                "access_token": "EAAG-token", "messages_per_second": 80}))
            .unwrap(),
        )
        .await
        .unwrap();
    outbox.register_template(
        channel.id,
        ritmo_core::channels::model::TemplateInfo {
            name: template.into(),
            language: "pt_BR".into(),
            status: "APPROVED".into(),
            category,
            body_parameters,
            body_parameter_names: vec![],
            header: None,
            buttons: vec![],
            unsupported: vec![],
        },
    );
    SendWorld {
        ports,
        outbox,
        scheduler,
        acme,
        channel_id: channel.id,
    }
}

/// What [`send_world`] sets up.
pub struct SendWorld {
    pub ports: ritmo_app::local::Local,
    pub outbox: Arc<ritmo_whatsapp::outbox::Outbox>,
    pub scheduler: Arc<ritmo_memory::LocalScheduler>,
    pub acme: ritmo_core::common::tenant::TenantId,
    pub channel_id: ulid::Ulid,
}

/// A DynamoDB store through `client` on a new table of the emulator, `ritmo-{name}-<ulid>`,
/// created: the store and the table's name.
pub async fn store_on_new_table(
    client: aws_sdk_dynamodb::Client,
    name: &str,
) -> (Arc<ritmo_aws::DynamoStore>, String) {
    let table = format!(
        "ritmo-{name}-{}",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    let store = Arc::new(ritmo_aws::DynamoStore::new(
        client,
        ritmo_aws::StoreConfig {
            table: table.clone(),
            cursor_key: ritmo_aws::CursorKey::random(),
        },
    ));
    store.create_table_if_missing().await.unwrap();
    (store, table)
}

/// An active sequence of `tenant` named `name` with a step for each of `steps` (each as the
/// admin API takes one), in that order: the sequence and its steps.
pub async fn active_sequence(
    ports: &ritmo_app::local::Local,
    tenant: &ritmo_core::common::tenant::TenantId,
    name: &str,
    steps: Vec<serde_json::Value>,
) -> (
    ritmo_core::sequences::model::SequenceView,
    Vec<ritmo_core::sequences::model::StepView>,
) {
    let sequences = ports.sequence_service();
    let sequence = sequences
        .create_sequence(
            tenant,
            serde_json::from_value(serde_json::json!({ "name": name })).unwrap(),
        )
        .await
        .unwrap();
    let mut added = Vec::new();
    for step in steps {
        added.push(
            sequences
                .add_step(tenant, sequence.id, serde_json::from_value(step).unwrap())
                .await
                .unwrap(),
        );
    }
    sequences
        .activate_sequence(tenant, sequence.id)
        .await
        .unwrap();
    (sequence, added)
}
