//! The metering proxy against the emulator, case by case, each charge computed by hand from
//! DynamoDB's rules (item sizes in bytes: attribute name + value; 1 WRU per KB rounded up, 1 RRU
//! per 4 KB, see `ritmo_e2e::metering`). The table is shaped as the production one: `pk`/`sk`,
//! `gsi1` projecting everything, `gsi2` keys only.

use ritmo_e2e::metering::{MeteringProxy, Usage};
use serde_json::{json, Value};

const AUTHORIZATION: &str = "AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0";

async fn call(url: &str, operation: &str, body: Value) -> (u16, Value) {
    let answer = reqwest::Client::new()
        .post(format!("{url}/"))
        .header("authorization", AUTHORIZATION)
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amz-target", format!("DynamoDB_20120810.{operation}"))
        .body(body.to_string())
        .send()
        .await
        .expect("the request is answered");
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

async fn create_table(endpoint: &str, table: &str) {
    let attribute = |name: &str| json!({"AttributeName": name, "AttributeType": "S"});
    let keys = |hash: &str, range: &str| json!([{"AttributeName": hash, "KeyType": "HASH"}, {"AttributeName": range, "KeyType": "RANGE"}]);
    let attributes: Vec<Value> = ["pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"]
        .map(attribute)
        .into();
    let (status, answer) = call(
        endpoint,
        "CreateTable",
        json!({"TableName": table, "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": attributes,
            "KeySchema": keys("pk", "sk"),
            "GlobalSecondaryIndexes": [
                {"IndexName": "gsi1", "KeySchema": keys("gsi1pk", "gsi1sk"), "Projection": {"ProjectionType": "ALL"}},
                {"IndexName": "gsi2", "KeySchema": keys("gsi2pk", "gsi2sk"), "Projection": {"ProjectionType": "KEYS_ONLY"}}]}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
}

fn s(value: &str) -> Value {
    json!({"S": value})
}

/// A string of `n` bytes.
fn text(n: usize) -> Value {
    s(&"x".repeat(n))
}

/// Runs one request through a fresh meter and answers what it cost.
async fn metered(proxy: &MeteringProxy, operation: &str, body: Value) -> (u16, Usage) {
    proxy.reset();
    let (status, _) = call(&proxy.url, operation, body).await;
    (status, proxy.usage())
}

fn units(usage: &Usage, index: &str) -> f64 {
    usage.wru_by_index.get(index).copied().unwrap_or(0.0)
}

#[tokio::test]
#[ignore = "needs the AWS emulator (infra/test.sh runs it)"]
async fn the_meter_charges_as_dynamodb_does() {
    let endpoint = std::env::var("RITMO_E2E_DYNAMODB_ENDPOINT")
        .expect("RITMO_E2E_DYNAMODB_ENDPOINT: the emulator (infra/test.sh starts one)");
    let table = format!("ritmo-meter-{}", std::process::id());
    create_table(&endpoint, &table).await;
    let proxy = MeteringProxy::start(&endpoint).await;
    let t = table.as_str();

    // A small put: pk "T#a" 2 + 3, sk "X" 2 + 1, n 12345 1 + (5 digits → 3) + 1 = 13 bytes → 1 WRU;
    // no index key, no index entry.
    let small = json!({"pk": s("T#a"), "sk": s("X"), "n": {"N": "12345"}});
    let (status, usage) = metered(&proxy, "PutItem", json!({"TableName": t, "Item": small})).await;
    assert_eq!(status, 200);
    assert_eq!((usage.wru(), units(&usage, "table")), (1.0, 1.0));
    assert_eq!((usage.items_written, usage.requests), (1, 1));
    assert_eq!(usage.rru(), 0.0, "the proxy's own reads are not charged");

    // A put of 1.5 KB: pk "P" 3 + sk "Y" 3 + gsi1pk "G" 7 + gsi1sk "s" 7 + body 4 + 1,512 =
    // 1,536 bytes → 2 WRU on the table and, gsi1 projecting everything, 2 on gsi1.
    let big =
        json!({"pk": s("P"), "sk": s("Y"), "gsi1pk": s("G"), "gsi1sk": s("s"), "body": text(1512)});
    let (_, usage) = metered(&proxy, "PutItem", json!({"TableName": t, "Item": big})).await;
    assert_eq!((units(&usage, "table"), units(&usage, "gsi1")), (2.0, 2.0));
    assert_eq!(units(&usage, "gsi2"), 0.0);

    // An update changing gsi1's sort key and giving the item gsi2's keys: the item grows by
    // gsi2pk "D" 7 + gsi2sk "1" 7 to 1,550 bytes → 2 WRU on the table; on gsi1 the old entry
    // is deleted (1,536 → 2) and the new one put (1,550 → 2) = 4; on gsi2 a keys-only entry
    // appears: pk 3 + sk 3 + gsi2pk 7 + gsi2sk 7 = 20 bytes → 1. Total 7.
    let (_, usage) = metered(
        &proxy,
        "UpdateItem",
        json!({"TableName": t, "Key": {"pk": s("P"), "sk": s("Y")},
            "UpdateExpression": "SET gsi1sk = :t, gsi2pk = :d, gsi2sk = :one",
            "ExpressionAttributeValues": {":t": s("t"), ":d": s("D"), ":one": s("1")}}),
    )
    .await;
    assert_eq!(
        (
            units(&usage, "table"),
            units(&usage, "gsi1"),
            units(&usage, "gsi2")
        ),
        (2.0, 4.0, 1.0)
    );
    assert_eq!(usage.wru(), 7.0);
    assert_eq!(usage.by_key["gsi1 G"].wru, 4.0, "both gsi1 writes in G");

    // An update of a non-key attribute (body, same length): the table 2; gsi1's entry changes in
    // place (max(1,550, 1,550) → 2); gsi2 projects no body: nothing there.
    let (_, usage) = metered(
        &proxy,
        "UpdateItem",
        json!({"TableName": t, "Key": {"pk": s("P"), "sk": s("Y")},
            "UpdateExpression": "SET body = :b", "ExpressionAttributeValues": {":b": s(&"y".repeat(1512))}}),
    )
    .await;
    assert_eq!(
        (
            units(&usage, "table"),
            units(&usage, "gsi1"),
            units(&usage, "gsi2")
        ),
        (2.0, 2.0, 0.0)
    );

    // A transaction of two puts: {pk "T#b" 5, sk "X" 3} = 8 bytes → 1 WRU × 2 = 2; {pk "T#c" 5,
    // sk "X" 3, gsi1pk "G" 7, gsi1sk "c" 7} = 22 bytes → 1 × 2 = 2 on the table and 1 on gsi1
    // (indexes are maintained after the commit, at the standard rate). Total 5.
    let (status, usage) = metered(
        &proxy,
        "TransactWriteItems",
        json!({"TransactItems": [
            {"Put": {"TableName": t, "Item": {"pk": s("T#b"), "sk": s("X")}}},
            {"Put": {"TableName": t, "Item": {"pk": s("T#c"), "sk": s("X"), "gsi1pk": s("G"), "gsi1sk": s("c")}}}]}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!((units(&usage, "table"), units(&usage, "gsi1")), (4.0, 1.0));
    assert_eq!(usage.items_written, 2);

    // A condition check and a delete in one transaction: the check is a write of its item's
    // size (13 bytes → 1 × 2 = 2), the delete of T#b (8 bytes → 1 × 2 = 2). One item written.
    let (_, usage) = metered(
        &proxy,
        "TransactWriteItems",
        json!({"TransactItems": [
            {"ConditionCheck": {"TableName": t, "Key": {"pk": s("T#a"), "sk": s("X")},
                                "ConditionExpression": "attribute_exists(pk)"}},
            {"Delete": {"TableName": t, "Key": {"pk": s("T#b"), "sk": s("X")}}}]}),
    )
    .await;
    assert_eq!((usage.wru(), usage.items_written), (4.0, 1));

    // A failed condition: a put over T#a (13 bytes stored, 11 offered: n 1 is 1 + 2) → 1 WRU,
    // no index, nothing written.
    let (status, usage) = metered(
        &proxy,
        "PutItem",
        json!({"TableName": t, "Item": {"pk": s("T#a"), "sk": s("X"), "n": {"N": "1"}},
            "ConditionExpression": "attribute_not_exists(pk)"}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!((usage.wru(), usage.items_written), (1.0, 0));

    // A batch of two puts, each charged alone: 8 bytes → 1, 8 bytes → 1.
    let (_, usage) = metered(
        &proxy,
        "BatchWriteItem",
        json!({"RequestItems": {t: [
            {"PutRequest": {"Item": {"pk": s("T#d"), "sk": s("X")}}},
            {"PutRequest": {"Item": {"pk": s("T#e"), "sk": s("X")}}}]}}),
    )
    .await;
    assert_eq!((usage.wru(), usage.items_written), (2.0, 2));

    // An eventually consistent read of a 5 KB item: pk "E" 3 + sk "Z" 3 + body 4 + 5,110 =
    // 5,120 bytes → 2 read units of 4 KB, halved → 1 RRU. (Its put: 5 WRU.)
    let five = json!({"pk": s("E"), "sk": s("Z"), "body": text(5110)});
    let (_, usage) = metered(&proxy, "PutItem", json!({"TableName": t, "Item": five})).await;
    assert_eq!(usage.wru(), 5.0);
    let key = json!({"pk": s("E"), "sk": s("Z")});
    let (_, usage) = metered(&proxy, "GetItem", json!({"TableName": t, "Key": key})).await;
    assert_eq!(usage.rru(), 1.0);
    // Strongly consistent: 2; with a projection still the whole item: 2; a missing item: 1.
    let (_, usage) = metered(
        &proxy,
        "GetItem",
        json!({"TableName": t, "Key": key, "ConsistentRead": true, "ProjectionExpression": "pk"}),
    )
    .await;
    assert_eq!(usage.rru(), 2.0);
    let missing = json!({"pk": s("E"), "sk": s("none")});
    let (_, usage) = metered(
        &proxy,
        "GetItem",
        json!({"TableName": t, "Key": missing, "ConsistentRead": true}),
    )
    .await;
    assert_eq!(usage.rru(), 1.0);

    // A query over three items of pk "Q" 3 + sk "1" 3 + body 4 + 1,530 = 1,540 bytes: summed
    // 4,620 bytes → 2 RRU strongly consistent (not 3, as three reads of one item each would
    // be); eventually consistent on gsi1 (three entries of the same size) → 1.
    for sk in ["1", "2", "3"] {
        let item = json!({"pk": s("Q"), "sk": s(sk), "gsi1pk": s("H"), "body": text(1530)});
        call(&proxy.url, "PutItem", json!({"TableName": t, "Item": item})).await;
    }
    let query = json!({"TableName": t, "KeyConditionExpression": "pk = :q",
        "ExpressionAttributeValues": {":q": s("Q")}, "ConsistentRead": true});
    let (_, usage) = metered(&proxy, "Query", query.clone()).await;
    assert_eq!(usage.rru(), 2.0);
    assert_eq!(usage.by_key["table Q"].rru, 2.0);
    // A filter that keeps nothing: still the items evaluated, 2.
    let mut filtered = query.clone();
    filtered["FilterExpression"] = json!("body = :none");
    filtered["ExpressionAttributeValues"][":none"] = s("none");
    let (_, usage) = metered(&proxy, "Query", filtered).await;
    assert_eq!(usage.rru(), 2.0);
    // gsi1's entries need a sort key (gsi1sk) to exist: these items have none, so the index
    // has no entry of H and the query costs the minimum, ½.
    let (_, usage) = metered(
        &proxy,
        "Query",
        json!({"TableName": t, "IndexName": "gsi1", "KeyConditionExpression": "gsi1pk = :h",
            "ExpressionAttributeValues": {":h": s("H")}}),
    )
    .await;
    assert_eq!(usage.rru(), 0.5);
    assert_eq!(usage.rru_by_index["gsi1"], 0.5);

    // A delete: the whole item's size (1,550 → 2), and its entries leave gsi1 (2) and gsi2 (1).
    let (_, usage) = metered(
        &proxy,
        "DeleteItem",
        json!({"TableName": t, "Key": {"pk": s("P"), "sk": s("Y")}}),
    )
    .await;
    assert_eq!(
        (
            units(&usage, "table"),
            units(&usage, "gsi1"),
            units(&usage, "gsi2")
        ),
        (2.0, 2.0, 1.0)
    );
}
