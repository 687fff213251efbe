//! A reverse proxy in front of a DynamoDB-compatible endpoint that charges every request as
//! DynamoDB does, since the emulator charges nothing. It forwards as the counting proxy does
//! ([`crate::counting`]) and, per request, adds the write and read request units the request
//! would cost on an on-demand table, by table and index, and by partition key value.
//!
//! The rules (docs/benchmarks.md#capacity, with AWS's pages):
//! - an item's size is the sum of its attribute names (UTF-8 bytes) and values: a string its
//!   UTF-8 bytes, a number 1 byte per two significant digits plus 1, a binary its raw bytes, a
//!   null or a Boolean 1, a list or a map 3 bytes plus its elements plus 1 byte per element;
//! - a write costs 1 WRU per KB (rounded up) of the larger of the item before and after it; every
//!   global secondary index whose entry changes is charged apart, by the size of the entry (the
//!   projected attributes): an entry that appears is a put, one that disappears a delete, a key
//!   change a delete and a put, and a write that changes no projected attribute costs nothing
//!   there;
//! - a transaction costs twice per item (a `ConditionCheck` as a write of its item's size); a
//!   write whose condition fails, or a cancelled transaction, still costs its base items (no
//!   index); `BatchWriteItem` items are charged one by one;
//! - a read costs 1 RRU per 4 KB (rounded up), half when eventually consistent, twice when
//!   transactional; a `Query` or `Scan` sums the sizes of the items it evaluated, then rounds;
//!   a read that finds nothing still costs the minimum.
//!
//! To know the items before and after a write, the proxy reads the items the request names from
//! the upstream before forwarding it and after the answer (consistent `GetItem`s, not charged);
//! writes are forwarded one at a time so that no other write falls between those reads. A read
//! with a projection or a filter is charged by the items a read without them returns (DynamoDB
//! charges what it evaluated, not what it returned). The tables' keys and indexes come from
//! `DescribeTable`, asked of the upstream once per table.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use crate::counting::{send, Answer, DYNAMODB_PREFIX, MAX_BODY};

/// An item (or a key) in DynamoDB's JSON: attribute name → `{"S": ..}`, `{"N": ..}`, ...
pub type Item = Map<String, Value>;

/// The name the base table is reported under, beside its indexes' names.
pub const TABLE: &str = "table";

const KB: usize = 1024;
const READ_UNIT: usize = 4 * KB;

/// Size of one attribute value in bytes, as DynamoDB counts it.
pub fn value_size(value: &Value) -> usize {
    let Some((kind, inner)) = value.as_object().and_then(|o| o.iter().next()) else {
        return 0;
    };
    match kind.as_str() {
        "S" => inner.as_str().map_or(0, str::len),
        "N" => inner.as_str().map_or(0, number_size),
        "B" => inner.as_str().map_or(0, base64_len),
        "BOOL" | "NULL" => 1,
        "SS" => strings(inner).map(str::len).sum(),
        "NS" => strings(inner).map(number_size).sum(),
        "BS" => strings(inner).map(base64_len).sum(),
        "L" => {
            let elements = inner.as_array().map(Vec::as_slice).unwrap_or_default();
            3 + elements.iter().map(|v| value_size(v) + 1).sum::<usize>()
        }
        "M" => {
            let entries = inner.as_object();
            3 + entries.map_or(0, |m| {
                m.iter()
                    .map(|(name, v)| name.len() + value_size(v) + 1)
                    .sum()
            })
        }
        _ => 0,
    }
}

/// Size of an item: its attribute names and values.
pub fn item_size(item: &Item) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

fn strings(value: &Value) -> impl Iterator<Item = &str> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// 1 byte per two significant digits (leading and trailing zeroes trimmed), plus 1.
fn number_size(number: &str) -> usize {
    let mantissa = number
        .trim_start_matches(['-', '+'])
        .split(['e', 'E'])
        .next()
        .unwrap_or_default();
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    significant.div_ceil(2) + 1
}

/// Raw bytes of a base64 value.
fn base64_len(encoded: &str) -> usize {
    let padding = encoded.chars().rev().take_while(|c| *c == '=').count();
    (encoded.len() * 3 / 4).saturating_sub(padding)
}

/// Write units of one item (or index entry) of `size` bytes, at least 1.
pub fn write_units(size: usize) -> f64 {
    size.div_ceil(KB).max(1) as f64
}

/// Read units of `size` bytes read together (one item, or a query's page), at least 1.
pub fn read_units(size: usize) -> f64 {
    size.div_ceil(READ_UNIT).max(1) as f64
}

/// What attributes an index holds besides its own and the table's keys.
#[derive(Debug, Clone, PartialEq)]
pub enum Projection {
    All,
    KeysOnly,
    Include(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Index {
    pub name: String,
    pub hash: String,
    pub range: Option<String>,
    pub projection: Projection,
}

/// A table's keys and global secondary indexes.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    pub hash: String,
    pub range: Option<String>,
    pub indexes: Vec<Index>,
}

fn key_schema(keys: &Value) -> (String, Option<String>) {
    let named = |kind: &str| {
        keys.as_array().into_iter().flatten().find_map(|k| {
            (k["KeyType"] == kind).then(|| k["AttributeName"].as_str().unwrap_or_default().into())
        })
    };
    (named("HASH").unwrap_or_default(), named("RANGE"))
}

impl Schema {
    /// From a `DescribeTable` answer.
    pub fn from_description(answer: &Value) -> Self {
        let table = &answer["Table"];
        let (hash, range) = key_schema(&table["KeySchema"]);
        let indexes = table["GlobalSecondaryIndexes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|index| {
                let (hash, range) = key_schema(&index["KeySchema"]);
                let projection = &index["Projection"];
                let projection = match projection["ProjectionType"].as_str() {
                    Some("KEYS_ONLY") => Projection::KeysOnly,
                    Some("INCLUDE") => Projection::Include(
                        strings(&projection["NonKeyAttributes"])
                            .map(str::to_string)
                            .collect(),
                    ),
                    _ => Projection::All,
                };
                Index {
                    name: index["IndexName"].as_str().unwrap_or_default().into(),
                    hash,
                    range,
                    projection,
                }
            })
            .collect();
        Self {
            hash,
            range,
            indexes,
        }
    }

    /// The primary key of an item.
    pub fn key_of(&self, item: &Item) -> Item {
        [Some(&self.hash), self.range.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|name| item.get(name).map(|v| (name.clone(), v.clone())))
            .collect()
    }

    /// The item's entry in `index`: none unless it holds the index's keys (a sparse index).
    pub fn entry(&self, index: &Index, item: &Item) -> Option<Item> {
        let keys = [Some(&index.hash), index.range.as_ref()];
        if keys.iter().flatten().any(|k| !item.contains_key(*k)) {
            return None;
        }
        let mut entry = self.key_of(item);
        for key in keys.into_iter().flatten() {
            entry.insert(key.clone(), item[key].clone());
        }
        match &index.projection {
            Projection::All => return Some(item.clone()),
            Projection::KeysOnly => {}
            Projection::Include(names) => {
                for name in names {
                    if let Some(value) = item.get(name) {
                        entry.insert(name.clone(), value.clone());
                    }
                }
            }
        }
        Some(entry)
    }
}

/// A partition key value as text (`S` and `N` as they are, anything else as its JSON).
fn key_text(value: Option<&Value>) -> String {
    match value
        .and_then(Value::as_object)
        .and_then(|o| o.iter().next())
    {
        Some((kind, Value::String(s))) if kind == "S" || kind == "N" => s.clone(),
        Some((_, other)) => other.to_string(),
        None => "?".into(),
    }
}

/// Units charged to one partition key value of the table or of an index.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyUsage {
    pub wru: f64,
    pub rru: f64,
}

/// What requests cost, added up since the meter started (or was reset).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    /// DynamoDB requests.
    pub requests: usize,
    pub by_operation: BTreeMap<String, usize>,
    /// Write and read units by operation (`PutItem`, `Query`, ...).
    pub units_by_operation: BTreeMap<String, KeyUsage>,
    /// Write units on the table (`TABLE`) and on each index.
    pub wru_by_index: BTreeMap<String, f64>,
    /// Read units on the table and on each index.
    pub rru_by_index: BTreeMap<String, f64>,
    /// Items put, updated or deleted on the table (not condition checks, not failed writes).
    pub items_written: usize,
    /// Units by `"<table or index> <partition key value>"`.
    pub by_key: BTreeMap<String, KeyUsage>,
}

impl Usage {
    pub fn wru(&self) -> f64 {
        // Plus zero: an empty sum of floats is -0.
        self.wru_by_index.values().sum::<f64>() + 0.0
    }

    pub fn rru(&self) -> f64 {
        self.rru_by_index.values().sum::<f64>() + 0.0
    }

    fn write(&mut self, index: &str, key: String, units: f64) {
        *self.wru_by_index.entry(index.into()).or_default() += units;
        self.by_key.entry(format!("{index} {key}")).or_default().wru += units;
    }

    fn read(&mut self, index: &str, key: String, units: f64) {
        *self.rru_by_index.entry(index.into()).or_default() += units;
        self.by_key.entry(format!("{index} {key}")).or_default().rru += units;
    }

    /// The key with the most write units (read units when nothing was written), and its share
    /// of all the units of that kind.
    pub fn hottest(&self) -> Option<(String, f64)> {
        let (total, units): (f64, fn(&KeyUsage) -> f64) = if self.wru() > 0.0 {
            (self.wru(), |k| k.wru)
        } else {
            (self.rru(), |k| k.rru)
        };
        if total <= 0.0 {
            return None;
        }
        self.by_key
            .iter()
            .max_by(|a, b| units(a.1).total_cmp(&units(b.1)))
            .map(|(key, usage)| (key.clone(), units(usage) / total))
    }

    /// Charges one applied write of an item from `before` to `after` on the table and on every
    /// index whose entry changes; `factor` 2 in a transaction (the table's share only: indexes
    /// are maintained after the commit, as for any write).
    pub fn charge_write(
        &mut self,
        schema: &Schema,
        before: Option<&Item>,
        after: Option<&Item>,
        factor: f64,
    ) {
        let size = before.map_or(0, item_size).max(after.map_or(0, item_size));
        let key = key_text(before.or(after).and_then(|item| item.get(&schema.hash)));
        self.write(TABLE, key, factor * write_units(size));
        self.items_written += 1;
        for index in &schema.indexes {
            let old = before.and_then(|item| schema.entry(index, item));
            let new = after.and_then(|item| schema.entry(index, item));
            let index_key = |entry: &Item| key_text(entry.get(&index.hash));
            let same_keys = |old: &Item, new: &Item| {
                [Some(&index.hash), index.range.as_ref()]
                    .into_iter()
                    .flatten()
                    .all(|k| old.get(k) == new.get(k))
            };
            match (old, new) {
                (None, None) => {}
                (None, Some(new)) => {
                    self.write(&index.name, index_key(&new), write_units(item_size(&new)))
                }
                (Some(old), None) => {
                    self.write(&index.name, index_key(&old), write_units(item_size(&old)))
                }
                (Some(old), Some(new)) if old == new => {}
                (Some(old), Some(new)) if same_keys(&old, &new) => {
                    let size = item_size(&old).max(item_size(&new));
                    self.write(&index.name, index_key(&new), write_units(size));
                }
                (Some(old), Some(new)) => {
                    self.write(&index.name, index_key(&old), write_units(item_size(&old)));
                    self.write(&index.name, index_key(&new), write_units(item_size(&new)));
                }
            }
        }
    }

    /// Charges a write that changed nothing (a failed condition, a cancelled transaction's
    /// item, a condition check): the base item's units, no index.
    pub fn charge_unapplied(&mut self, schema: &Schema, item: &Item, size: usize, factor: f64) {
        let key = key_text(item.get(&schema.hash));
        self.write(TABLE, key, factor * write_units(size));
    }

    /// Charges a read of `size` bytes (one item, or the items of one page) of partition `key`.
    pub fn charge_read(&mut self, index: &str, key: String, size: usize, factor: f64) {
        self.read(index, key, factor * read_units(size));
    }
}

/// What a write request asks of one item.
#[derive(Debug, Clone)]
enum Action {
    Put(Item),
    Update,
    Delete,
    Check,
}

#[derive(Debug, Clone)]
struct Target {
    table: String,
    key: Item,
    action: Action,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    Applied,
    /// A failed condition, or a cancelled transaction: nothing written, base items charged.
    Unapplied,
    /// Any other error (validation, throttling): nothing charged.
    Refused,
}

fn outcome(answer: &Answer) -> Outcome {
    if answer.status.is_success() {
        return Outcome::Applied;
    }
    let body: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    let kind = body["__type"].as_str().unwrap_or_default();
    if kind.ends_with("ConditionalCheckFailedException")
        || kind.ends_with("TransactionCanceledException")
    {
        Outcome::Unapplied
    } else {
        Outcome::Refused
    }
}

#[derive(Default)]
struct Meter {
    usage: Usage,
}

#[derive(Clone)]
struct Shared {
    upstream: String,
    client: reqwest::Client,
    meter: Arc<Mutex<Meter>>,
    schemas: Arc<Mutex<HashMap<String, Schema>>>,
    /// Held by a write from its first read of the items it names to its last.
    writing: Arc<tokio::sync::Mutex<()>>,
}

pub struct MeteringProxy {
    /// Where to send requests instead of the upstream, `http://127.0.0.1:<port>`.
    pub url: String,
    meter: Arc<Mutex<Meter>>,
    server: tokio::task::JoinHandle<()>,
}

impl MeteringProxy {
    /// Serves on a free port of 127.0.0.1 and forwards to `upstream` (`http://host:port`).
    pub async fn start(upstream: &str) -> Self {
        let meter = Arc::new(Mutex::new(Meter::default()));
        let shared = Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            client: crate::proxy::upstream_client(),
            meter: meter.clone(),
            schemas: Arc::default(),
            writing: Arc::default(),
        };
        let app = axum::Router::new().fallback(forward).with_state(shared);
        let (url, server) = crate::proxy::serve(app).await;
        Self { url, meter, server }
    }

    /// What the requests so far cost.
    pub fn usage(&self) -> Usage {
        self.meter.lock().unwrap().usage.clone()
    }

    /// DynamoDB requests so far.
    pub fn requests(&self) -> usize {
        self.meter.lock().unwrap().usage.requests
    }

    /// Starts metering from zero.
    pub fn reset(&self) {
        self.meter.lock().unwrap().usage = Usage::default();
    }

    /// Waits until no DynamoDB request arrived for `quiet` (the runtime's asynchronous work,
    /// a queue or a schedule, is done), for at most `deadline`; panics past it.
    pub async fn settle(&self, quiet: std::time::Duration, deadline: std::time::Duration) {
        let started = std::time::Instant::now();
        let (mut seen, mut since) = (self.requests(), std::time::Instant::now());
        while since.elapsed() < quiet {
            assert!(
                started.elapsed() < deadline,
                "DynamoDB requests still arriving after {deadline:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            if self.requests() != seen {
                (seen, since) = (self.requests(), std::time::Instant::now());
            }
        }
    }
}

impl Drop for MeteringProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn forward(State(shared): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(body) => body,
        Err(error) => {
            return (StatusCode::BAD_REQUEST, format!("request body: {error}")).into_response()
        }
    };
    let operation = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix(DYNAMODB_PREFIX))
        .map(str::to_string);
    let Some(operation) = operation else {
        return match send(&shared.client, &shared.upstream, &parts, body).await {
            Ok(answer) => answer.into_response(),
            Err(error) => error.into_response(),
        };
    };
    {
        let mut meter = shared.meter.lock().unwrap();
        meter.usage.requests += 1;
        *meter
            .usage
            .by_operation
            .entry(operation.clone())
            .or_default() += 1;
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let helper = Helper {
        shared: &shared,
        headers: &parts.headers,
    };
    let answer = match operation.as_str() {
        "PutItem" | "UpdateItem" | "DeleteItem" | "BatchWriteItem" | "TransactWriteItems" => {
            let _one_write = shared.writing.lock().await;
            let targets = helper.targets(&operation, &request).await;
            let mut before = Vec::new();
            for target in &targets {
                before.push(helper.get(&target.table, &target.key).await);
            }
            let answer = match send(&shared.client, &shared.upstream, &parts, body).await {
                Ok(answer) => answer,
                Err(error) => return error.into_response(),
            };
            let outcome = outcome(&answer);
            let mut usage = Usage::default();
            let factor = if operation == "TransactWriteItems" {
                2.0
            } else {
                1.0
            };
            for (target, before) in targets.iter().zip(&before) {
                let schema = helper.schema(&target.table).await;
                match (&target.action, outcome) {
                    (_, Outcome::Refused) => {}
                    (Action::Check, _) => {
                        let size = before.as_ref().map_or(0, item_size);
                        usage.charge_unapplied(&schema, &target.key, size, factor);
                    }
                    (action, Outcome::Unapplied) => {
                        let offered = match action {
                            Action::Put(item) => item_size(item),
                            _ => 0,
                        };
                        let size = before.as_ref().map_or(0, item_size).max(offered);
                        usage.charge_unapplied(&schema, &target.key, size, factor);
                    }
                    (Action::Put(item), Outcome::Applied) => {
                        usage.charge_write(&schema, before.as_ref(), Some(item), factor)
                    }
                    (Action::Delete, Outcome::Applied) => {
                        usage.charge_write(&schema, before.as_ref(), None, factor)
                    }
                    (Action::Update, Outcome::Applied) => {
                        let after = helper.get(&target.table, &target.key).await;
                        usage.charge_write(&schema, before.as_ref(), after.as_ref(), factor)
                    }
                }
            }
            usage.by_operation_units(&operation);
            shared.meter.lock().unwrap().usage.add(usage);
            answer
        }
        _ => {
            let answer = match send(&shared.client, &shared.upstream, &parts, body).await {
                Ok(answer) => answer,
                Err(error) => return error.into_response(),
            };
            if answer.status.is_success() {
                let response: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
                let mut usage = helper.price_read(&operation, &request, &response).await;
                usage.by_operation_units(&operation);
                shared.meter.lock().unwrap().usage.add(usage);
            }
            answer
        }
    };
    answer.into_response()
}

impl Usage {
    /// Adds what `other` cost to this.
    pub fn add(&mut self, other: Usage) {
        self.requests += other.requests;
        for (operation, n) in other.by_operation {
            *self.by_operation.entry(operation).or_default() += n;
        }
        for (index, units) in other.wru_by_index {
            *self.wru_by_index.entry(index).or_default() += units;
        }
        for (index, units) in other.rru_by_index {
            *self.rru_by_index.entry(index).or_default() += units;
        }
        for (key, units) in other.by_key {
            let mine = self.by_key.entry(key).or_default();
            mine.wru += units.wru;
            mine.rru += units.rru;
        }
        for (operation, units) in other.units_by_operation {
            let mine = self.units_by_operation.entry(operation).or_default();
            mine.wru += units.wru;
            mine.rru += units.rru;
        }
        self.items_written += other.items_written;
    }

    /// Files this request's units under its operation.
    fn by_operation_units(&mut self, operation: &str) {
        let units = KeyUsage {
            wru: self.wru(),
            rru: self.rru(),
        };
        self.units_by_operation.insert(operation.into(), units);
    }
}

/// The proxy's own requests to the upstream (not metered), signed as the request it serves.
struct Helper<'a> {
    shared: &'a Shared,
    headers: &'a HeaderMap,
}

impl Helper<'_> {
    async fn call(&self, operation: &str, body: &Value) -> Option<Value> {
        let mut request = self
            .shared
            .client
            .post(format!("{}/", self.shared.upstream))
            .header("content-type", "application/x-amz-json-1.0")
            .header(
                "x-amz-target",
                HeaderValue::from_str(&format!("{DYNAMODB_PREFIX}{operation}")).ok()?,
            )
            .body(body.to_string());
        for name in ["authorization", "x-amz-date", "x-amz-security-token"] {
            if let Some(value) = self.headers.get(name) {
                request = request.header(name, value);
            }
        }
        let answer = request.send().await.ok()?;
        if !answer.status().is_success() {
            return None;
        }
        answer.json().await.ok()
    }

    async fn schema(&self, table: &str) -> Schema {
        if let Some(schema) = self.shared.schemas.lock().unwrap().get(table) {
            return schema.clone();
        }
        let answer = self
            .call("DescribeTable", &json!({"TableName": table}))
            .await
            .unwrap_or(Value::Null);
        let schema = Schema::from_description(&answer);
        if !schema.hash.is_empty() {
            self.shared
                .schemas
                .lock()
                .unwrap()
                .insert(table.into(), schema.clone());
        }
        schema
    }

    async fn get(&self, table: &str, key: &Item) -> Option<Item> {
        let answer = self
            .call(
                "GetItem",
                &json!({"TableName": table, "Key": key, "ConsistentRead": true}),
            )
            .await?;
        answer["Item"].as_object().cloned()
    }

    /// The items a write request names, with what it asks of each.
    async fn targets(&self, operation: &str, request: &Value) -> Vec<Target> {
        let key = |v: &Value| v.as_object().cloned().unwrap_or_default();
        let table = |v: &Value| v["TableName"].as_str().unwrap_or_default().to_string();
        let mut targets = Vec::new();
        match operation {
            "PutItem" => {
                let item = key(&request["Item"]);
                let schema = self.schema(&table(request)).await;
                targets.push(Target {
                    table: table(request),
                    key: schema.key_of(&item),
                    action: Action::Put(item),
                });
            }
            "UpdateItem" | "DeleteItem" => targets.push(Target {
                table: table(request),
                key: key(&request["Key"]),
                action: if operation == "UpdateItem" {
                    Action::Update
                } else {
                    Action::Delete
                },
            }),
            "TransactWriteItems" => {
                for entry in request["TransactItems"].as_array().into_iter().flatten() {
                    let Some((kind, body)) = entry.as_object().and_then(|o| o.iter().next()) else {
                        continue;
                    };
                    let (item_key, action) = match kind.as_str() {
                        "Put" => {
                            let item = key(&body["Item"]);
                            let schema = self.schema(&table(body)).await;
                            (schema.key_of(&item), Action::Put(item))
                        }
                        "Update" => (key(&body["Key"]), Action::Update),
                        "Delete" => (key(&body["Key"]), Action::Delete),
                        _ => (key(&body["Key"]), Action::Check),
                    };
                    targets.push(Target {
                        table: table(body),
                        key: item_key,
                        action,
                    });
                }
            }
            "BatchWriteItem" => {
                let tables = request["RequestItems"].as_object().cloned();
                for (name, requests) in tables.into_iter().flatten() {
                    let schema = self.schema(&name).await;
                    for entry in requests.as_array().into_iter().flatten() {
                        if let Some(item) = entry["PutRequest"]["Item"].as_object() {
                            targets.push(Target {
                                table: name.clone(),
                                key: schema.key_of(item),
                                action: Action::Put(item.clone()),
                            });
                        } else if let Some(item_key) = entry["DeleteRequest"]["Key"].as_object() {
                            targets.push(Target {
                                table: name.clone(),
                                key: item_key.clone(),
                                action: Action::Delete,
                            });
                        }
                    }
                }
            }
            _ => {}
        }
        targets
    }

    /// What a successful read cost.
    async fn price_read(&self, operation: &str, request: &Value, response: &Value) -> Usage {
        let mut usage = Usage::default();
        let consistency = |v: &Value| {
            if v["ConsistentRead"] == true {
                1.0
            } else {
                0.5
            }
        };
        match operation {
            "GetItem" => {
                let table = request["TableName"].as_str().unwrap_or_default();
                let schema = self.schema(table).await;
                let item_key = request["Key"].as_object().cloned().unwrap_or_default();
                let item = if request.get("ProjectionExpression").is_some() {
                    self.get(table, &item_key).await
                } else {
                    response["Item"].as_object().cloned()
                };
                let size = item.as_ref().map_or(0, item_size);
                let key = key_text(item_key.get(&schema.hash));
                usage.charge_read(TABLE, key, size, consistency(request));
            }
            "BatchGetItem" => {
                let tables = request["RequestItems"].as_object().cloned();
                for (table, wanted) in tables.into_iter().flatten() {
                    let schema = self.schema(&table).await;
                    let returned: Vec<Item> = response["Responses"][&table]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|i| i.as_object().cloned())
                        .collect();
                    for item_key in wanted["Keys"].as_array().into_iter().flatten() {
                        let item_key = item_key.as_object().cloned().unwrap_or_default();
                        let item = if wanted.get("ProjectionExpression").is_some() {
                            self.get(&table, &item_key).await
                        } else {
                            returned
                                .iter()
                                .find(|item| schema.key_of(item) == item_key)
                                .cloned()
                        };
                        let size = item.as_ref().map_or(0, item_size);
                        let key = key_text(item_key.get(&schema.hash));
                        usage.charge_read(TABLE, key, size, consistency(&wanted));
                    }
                }
            }
            "TransactGetItems" => {
                for entry in request["TransactItems"].as_array().into_iter().flatten() {
                    let get = &entry["Get"];
                    let table = get["TableName"].as_str().unwrap_or_default();
                    let schema = self.schema(table).await;
                    let item_key = get["Key"].as_object().cloned().unwrap_or_default();
                    let size = self
                        .get(table, &item_key)
                        .await
                        .as_ref()
                        .map_or(0, item_size);
                    let key = key_text(item_key.get(&schema.hash));
                    usage.charge_read(TABLE, key, size, 2.0);
                }
            }
            "Query" | "Scan" => {
                let table = request["TableName"].as_str().unwrap_or_default();
                let schema = self.schema(table).await;
                let index = request["IndexName"].as_str();
                let hash = match index {
                    Some(name) => schema
                        .indexes
                        .iter()
                        .find(|i| i.name == name)
                        .map(|i| i.hash.clone())
                        .unwrap_or_default(),
                    None => schema.hash.clone(),
                };
                let narrowed = ["ProjectionExpression", "FilterExpression", "Select"]
                    .iter()
                    .any(|field| request.get(*field).is_some());
                let items = if narrowed {
                    self.call(operation, &evaluated(request))
                        .await
                        .map(|answer| answer["Items"].clone())
                        .unwrap_or(Value::Null)
                } else {
                    response["Items"].clone()
                };
                let size: usize = items
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_object)
                    .map(item_size)
                    .sum();
                let key = if operation == "Query" {
                    key_text(partition_of(request, &hash).as_ref())
                } else {
                    "(scan)".into()
                };
                usage.charge_read(index.unwrap_or(TABLE), key, size, consistency(request));
            }
            _ => {}
        }
        usage
    }
}

/// A `Query` or `Scan` without its projection and filter: the items DynamoDB evaluates (and
/// charges) for the request, the same page (`Limit` and `ExclusiveStartKey` kept).
fn evaluated(request: &Value) -> Value {
    let mut kept = Map::new();
    for field in [
        "TableName",
        "IndexName",
        "KeyConditionExpression",
        "ExclusiveStartKey",
        "Limit",
        "ConsistentRead",
        "ScanIndexForward",
        "Segment",
        "TotalSegments",
    ] {
        if let Some(value) = request.get(field) {
            kept.insert(field.into(), value.clone());
        }
    }
    let condition = request["KeyConditionExpression"]
        .as_str()
        .unwrap_or_default();
    let used = |map: &Value, prefix: char| -> Map<String, Value> {
        map.as_object()
            .into_iter()
            .flatten()
            .filter(|(name, _)| placeholders(condition, prefix).any(|p| p == name.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    let names = used(&request["ExpressionAttributeNames"], '#');
    let values = used(&request["ExpressionAttributeValues"], ':');
    if !names.is_empty() {
        kept.insert("ExpressionAttributeNames".into(), Value::Object(names));
    }
    if !values.is_empty() {
        kept.insert("ExpressionAttributeValues".into(), Value::Object(values));
    }
    Value::Object(kept)
}

/// The `#name` or `:value` placeholders of an expression.
fn placeholders(expression: &str, prefix: char) -> impl Iterator<Item = &str> {
    expression.match_indices(prefix).map(move |(start, _)| {
        let rest = &expression[start + 1..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        &expression[start..start + 1 + end]
    })
}

/// The partition key value a `Query`'s key condition names (`#pk = :pk` or `pk = :pk`).
fn partition_of(request: &Value, hash: &str) -> Option<Value> {
    let condition = request["KeyConditionExpression"].as_str()?;
    let names = &request["ExpressionAttributeNames"];
    condition
        .split(" AND ")
        .flat_map(|c| c.split(" and "))
        .find_map(|clause| {
            let (left, right) = clause.split_once('=')?;
            if left.ends_with(['<', '>']) {
                return None;
            }
            let left = left.trim().trim_start_matches('(');
            let name = names[left].as_str().unwrap_or(left);
            (name == hash).then(|| {
                let placeholder = right.trim().trim_end_matches(')');
                request["ExpressionAttributeValues"][placeholder].clone()
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(value: Value) -> Item {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn sizes_follow_the_documented_rules() {
        // "pk" (2) + "T#acme" (6)
        assert_eq!(item_size(&item(json!({"pk": {"S": "T#acme"}}))), 8);
        // "ação" is 6 UTF-8 bytes; the name "nº" 3.
        assert_eq!(item_size(&item(json!({"nº": {"S": "ação"}}))), 9);
        // 12345: 5 significant digits → 3 bytes + 1; 1200: 2 → 1 + 1; -0.050: 1 → 1 + 1.
        assert_eq!(value_size(&json!({"N": "12345"})), 4);
        assert_eq!(value_size(&json!({"N": "1200"})), 2);
        assert_eq!(value_size(&json!({"N": "-0.050"})), 2);
        // "aGVsbG8=" is 5 raw bytes.
        assert_eq!(value_size(&json!({"B": "aGVsbG8="})), 5);
        assert_eq!(value_size(&json!({"BOOL": true})), 1);
        assert_eq!(value_size(&json!({"NULL": true})), 1);
        // A list: 3 + ("ab" 2 + 1) + (true 1 + 1) = 8.
        assert_eq!(value_size(&json!({"L": [{"S": "ab"}, {"BOOL": true}]})), 8);
        // A map: 3 + ("k" 1 + "v" 1 + 1) = 6; the empty map 3.
        assert_eq!(value_size(&json!({"M": {"k": {"S": "v"}}})), 6);
        assert_eq!(value_size(&json!({"M": {}})), 3);
    }

    #[test]
    fn units_round_up_per_kilobyte_and_per_four() {
        assert_eq!(write_units(0), 1.0);
        assert_eq!(write_units(1024), 1.0);
        assert_eq!(write_units(1025), 2.0);
        assert_eq!(read_units(4096), 1.0);
        assert_eq!(read_units(4097), 2.0);
    }

    #[test]
    fn hottest_is_the_key_with_most_writes_and_its_share() {
        let mut usage = Usage::default();
        usage.write(TABLE, "a".into(), 3.0);
        usage.write("gsi1", "b".into(), 1.0);
        assert_eq!(usage.hottest(), Some(("table a".into(), 0.75)));
        let mut reads = Usage::default();
        reads.read(TABLE, "c".into(), 0.5);
        assert_eq!(reads.hottest(), Some(("table c".into(), 1.0)));
        assert_eq!(Usage::default().hottest(), None);
    }

    fn schema() -> Schema {
        Schema::from_description(&json!({"Table": {
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            "GlobalSecondaryIndexes": [
                {"IndexName": "gsi1", "Projection": {"ProjectionType": "ALL"},
                 "KeySchema": [{"AttributeName": "g1", "KeyType": "HASH"}]},
                {"IndexName": "gsi2", "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["a"]},
                 "KeySchema": [{"AttributeName": "g2", "KeyType": "HASH"}]}]}}))
    }

    #[test]
    fn index_entries_are_charged_when_they_appear_move_change_or_leave() {
        let schema = schema();
        let charged = |before: Option<Value>, after: Option<Value>, factor: f64| {
            let (before, after) = (before.map(item), after.map(item));
            let mut usage = Usage::default();
            usage.charge_write(&schema, before.as_ref(), after.as_ref(), factor);
            let on = |index: &str| usage.wru_by_index.get(index).copied().unwrap_or(0.0);
            (on(TABLE), on("gsi1"), on("gsi2"))
        };
        let base = json!({"pk": {"S": "p"}, "sk": {"S": "s"}});
        let with = |extra: Value| {
            let mut item = base.clone();
            item.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            item
        };
        // Appearing in both indexes: a put in each.
        assert_eq!(
            charged(
                None,
                Some(with(json!({"g1": {"S": "x"}, "g2": {"S": "y"}}))),
                1.0
            ),
            (1.0, 1.0, 1.0)
        );
        // gsi1's key moves: a delete and a put; gsi2 unchanged: nothing.
        let old = with(json!({"g1": {"S": "x"}, "g2": {"S": "y"}}));
        let new = with(json!({"g1": {"S": "z"}, "g2": {"S": "y"}}));
        assert_eq!(charged(Some(old.clone()), Some(new), 1.0), (1.0, 2.0, 0.0));
        // An attribute gsi2 does not project: only gsi1 (everything) is written.
        let other = with(json!({"g1": {"S": "x"}, "g2": {"S": "y"}, "b": {"S": "1"}}));
        assert_eq!(
            charged(Some(old.clone()), Some(other), 1.0),
            (1.0, 1.0, 0.0)
        );
        // One gsi2 projects: written there too.
        let projected = with(json!({"g1": {"S": "x"}, "g2": {"S": "y"}, "a": {"S": "1"}}));
        assert_eq!(
            charged(Some(old.clone()), Some(projected), 1.0),
            (1.0, 1.0, 1.0)
        );
        // Leaving gsi2 (its key removed): a delete there; in a transaction the table's 2×.
        let left = with(json!({"g1": {"S": "x"}}));
        assert_eq!(charged(Some(old), Some(left), 2.0), (2.0, 1.0, 1.0));
    }

    #[test]
    fn a_query_is_charged_by_its_key_condition_without_projection_or_filter() {
        let request = json!({"TableName": "t", "IndexName": "gsi1",
            "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :prefix)",
            "FilterExpression": "#st = :st", "ProjectionExpression": "#pk, #sk",
            "ExpressionAttributeNames": {"#pk": "gsi1pk", "#sk": "gsi1sk", "#st": "status"},
            "ExpressionAttributeValues": {":pk": {"S": "P"}, ":prefix": {"S": "a"}, ":st": {"S": "x"}},
            "Limit": 10});
        assert_eq!(
            evaluated(&request),
            json!({"TableName": "t", "IndexName": "gsi1",
                "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :prefix)",
                "ExpressionAttributeNames": {"#pk": "gsi1pk", "#sk": "gsi1sk"},
                "ExpressionAttributeValues": {":pk": {"S": "P"}, ":prefix": {"S": "a"}},
                "Limit": 10})
        );
        assert_eq!(partition_of(&request, "gsi1pk"), Some(json!({"S": "P"})));
    }
}
