//! The capacity report (SPEC §8): `ritmo-local` on the emulator's DynamoDB, through the
//! metering proxy (`ritmo_e2e::metering`), drives each operation through the real API and
//! reports what it cost per unit of work (a contact, a row, a message, a click), then holds
//! each operation to its budget in `infra/capacity-budgets.json`. It prints one table and
//! writes `target/capacity.json`; an operation over its budget fails the test, named with both
//! numbers.
//!
//! Every operation is measured from a reset meter to the moment the runtime stops sending
//! requests (the webhook applies statuses through an in-process queue, the sender runs from
//! the local scheduler, jobs from the local runner): the meter is read once no request arrived
//! for a while. The runtime runs no periodic reconciler (`--reconcile-every 0`), whose passes
//! are not a cost of any operation.

use std::time::Duration;

use reqwest::StatusCode;
use ritmo_e2e::capacity::{self, Budgets, Row};
use ritmo_e2e::meta::{messages_change, APP_SECRET, PHONE_NUMBER_ID, WABA_ID};
use ritmo_e2e::metering::{MeteringProxy, Usage};
use ritmo_e2e::TestServer;
use serde_json::{json, Value};
const BROWSER: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";
const BOT: &str = "facebookexternalhit/1.1";

/// Contacts enrolled in one request, and messages sent.
const CONTACTS: usize = 20;
/// Replies ending a run, among those contacts.
const REPLIES: usize = 10;
/// Rows of the import (a 10,000-row file costs the same per row, a hundred times longer).
const ROWS: usize = 100;
/// Runs ended by the archive.
const RUNS: usize = 200;
/// Clicks of each kind.
const CLICKS: usize = 10;

/// No DynamoDB request for this long: the operation's work is done.
const QUIET: Duration = Duration::from_millis(1500);
const DEADLINE: Duration = Duration::from_secs(120);

fn phone(i: usize) -> String {
    format!("+551198700{i:04}")
}

async fn post_signed(s: &TestServer, payload: &Value) {
    assert_eq!(s.post_signed(payload).await, StatusCode::OK);
}

async fn visit(s: &TestServer, path: &str, agent: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut request = s
        .client
        .get(format!("{}{path}", s.base))
        .header("user-agent", agent);
    if let Some(cookie) = cookie {
        request = request.header("cookie", format!("ritmo_sticky={cookie}"));
    }
    request.send().await.unwrap()
}

/// The meter's reading once the runtime is quiet, then zeroed for the next operation.
async fn measured(proxy: &MeteringProxy) -> Usage {
    proxy.settle(QUIET, DEADLINE).await;
    let usage = proxy.usage();
    proxy.reset();
    usage
}

/// A job's cost: read once the runtime is quiet and before the job is looked at (a look is a
/// read of its own), which must find it finished.
async fn measured_job(s: &TestServer, proxy: &MeteringProxy, started: ritmo_e2e::Reply) -> Usage {
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    let location = format!("/v1/jobs/{}", started.body["job_id"].as_str().unwrap());
    let mut usage = Usage::default();
    loop {
        usage.add(measured(proxy).await);
        let job = s.get(&location).await.ok();
        if !matches!(job["status"].as_str(), Some("queued" | "running")) {
            assert_eq!(job["status"], "succeeded", "{job}");
            proxy.reset();
            return usage;
        }
    }
}

async fn sequence(s: &TestServer, name: &str, channel: &Value, exit_on_reply: bool) -> String {
    let sequence = s
        .post(
            "/v1/sequences",
            json!({"name": name, "exit_on_reply": exit_on_reply}),
        )
        .await
        .ok();
    let id = sequence["id"].as_str().unwrap().to_string();
    // The first step a minute after enrollment, so that no send falls in the enrollment's
    // measurement; the second a day later, so that every run stays active.
    s.activate_with_template_steps(
        &id,
        channel,
        &[("promo_nov", 1, "minutes"), ("followup", 1, "days")],
    )
    .await;
    id
}

async fn enroll(s: &TestServer, id: &str, phones: impl Iterator<Item = String>) {
    let contacts: Vec<Value> = phones.map(|p| json!({"phone": p})).collect();
    let results = s
        .post(
            &format!("/v1/sequences/{id}/enrollments"),
            json!({"contacts": contacts}),
        )
        .await
        .ok();
    assert!(
        results["results"]
            .as_array()
            .is_none_or(|r| r.iter().all(|e| e["status"] == "enrolled")),
        "{results}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the AWS emulator (infra/test.sh and infra/bench/capacity.sh run it)"]
async fn each_operation_costs_within_its_capacity_budget() {
    let endpoint = std::env::var("RITMO_E2E_DYNAMODB_ENDPOINT")
        .expect("RITMO_E2E_DYNAMODB_ENDPOINT: the emulator (infra/bench/capacity.sh starts one)");
    let budgets_path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../infra/capacity-budgets.json"
    );
    let budgets = Budgets::parse(&std::fs::read_to_string(budgets_path).expect("the budgets"))
        .expect("budgets as JSON");
    let proxy = MeteringProxy::start(&endpoint).await;
    let table = format!("ritmo-capacity-{}", std::process::id());
    let s = TestServer::start_on_table(
        &[
            "--manual-clock",
            "--reconcile-every",
            "0",
            "--whatsapp-app-secret",
            APP_SECRET,
            "--whatsapp-verify-token",
            "verify-me",
        ],
        &proxy.url,
        &table,
    )
    .await;
    // Monday 2026-11-23, 10:00 in São Paulo.
    s.clock_to("2026-11-23T13:00:00Z").await;
    let channel = s
        .post(
            "/v1/channels",
            json!({"name": "Loja", "phone_number_id": PHONE_NUMBER_ID,
                                     "waba_id": WABA_ID, "access_token": "t"}),
        )
        .await
        .ok();
    let channel = channel["id"].clone();
    for (name, category) in [("promo_nov", "MARKETING"), ("followup", "UTILITY")] {
        s.post(
            "/_dev/templates",
            json!({"channel_id": channel, "name": name, "language": "pt_BR",
                                         "category": category, "body_parameters": 0}),
        )
        .await
        .ok();
    }
    measured(&proxy).await;
    let mut rows = Vec::new();

    // A sequence: created alone (its steps and activation are set-up).
    let created = s.post("/v1/sequences", json!({"name": "Vazia"})).await.ok();
    assert!(created["id"].is_string());
    rows.push(Row::new("create sequence", 1, measured(&proxy).await));
    let id = sequence(&s, "Promo", &channel, true).await;
    measured(&proxy).await;

    // Enrollment: 20 contacts in one request, each with its first step planned a minute on.
    enroll(&s, &id, (0..CONTACTS).map(phone)).await;
    rows.push(Row::new(
        "enroll one contact (API, 20 per request)",
        CONTACTS,
        measured(&proxy).await,
    ));
    assert!(s.outbox().await.is_empty(), "nothing sent yet");

    // Sending: the first step of each comes due.
    s.advance(61).await;
    let sending = measured(&proxy).await;
    let outbox = s.outbox().await;
    assert_eq!(outbox.len(), CONTACTS, "every first step sent");
    rows.push(Row::new(
        "send of a template step",
        CONTACTS,
        sending.clone(),
    ));

    // Meta's statuses for each message, one notification each: sent, delivered, read.
    let billing =
        json!({"pricing": {"billable": true, "pricing_model": "PMP", "category": "marketing"}});
    for (index, message) in outbox.iter().enumerate() {
        let to = message["to"].as_str().unwrap();
        for (offset, status) in ["sent", "delivered", "read"].into_iter().enumerate() {
            let mut item = json!({"id": format!("wamid.outbox.{:08}", index + 1), "status": status,
                "timestamp": (1_795_435_260 + offset).to_string(), "recipient_id": to,
                "biz_opaque_callback_data": message["request"]["biz_opaque_callback_data"]});
            if status != "read" {
                item["conversation"] =
                    json!({"id": format!("conv-{index}"), "origin": {"type": "marketing"}});
                item["pricing"] = billing["pricing"].clone();
            }
            post_signed(&s, &messages_change(json!({"statuses": [item]}))).await;
        }
    }
    let statuses = measured(&proxy).await;
    let stats = s.get(&format!("/v1/sequences/{id}/stats")).await.ok();
    assert_eq!(stats["steps"][0]["read"], CONTACTS, "{stats}");
    proxy.reset();
    rows.push(Row::new(
        "status webhook (each of sent, delivered, read)",
        3 * CONTACTS,
        statuses.clone(),
    ));
    let mut delivered = sending;
    delivered.add(statuses);
    rows.push(Row::new(
        "delivered template message with its 3 statuses",
        CONTACTS,
        delivered,
    ));

    // Replies: an exit-on-reply sequence ends the run of each contact who answers.
    for i in 0..REPLIES {
        let from = phone(i).trim_start_matches('+').to_string();
        let reply = messages_change(json!({
            "contacts": [{"profile": {"name": format!("Cliente {i}")}, "wa_id": from}],
            "messages": [{"from": from, "id": format!("wamid.IN{i}"), "timestamp": "1795435300",
                          "type": "text", "text": {"body": "Oi!"}}]}));
        post_signed(&s, &reply).await;
    }
    rows.push(Row::new(
        "reply ending a run (exit on reply)",
        REPLIES,
        measured(&proxy).await,
    ));
    let ana = s
        .get(&format!(
            "/v1/sequences/{id}/enrollments/{}",
            "%2B5511987000000"
        ))
        .await
        .ok();
    assert_eq!(ana["exit_reason"], "replied", "{ana}");
    proxy.reset();

    // A sequence's stats, read once.
    let stats = s.get(&format!("/v1/sequences/{id}/stats")).await.ok();
    assert_eq!(stats["exit_reasons"]["replied"], REPLIES, "{stats}");
    rows.push(Row::new("sequence stats read", 1, measured(&proxy).await));

    // An import of ROWS rows, per row.
    let imported = sequence(&s, "Importada", &channel, false).await;
    measured(&proxy).await;
    let mut file = String::from("phone;name\r\n");
    for i in 0..ROWS {
        file.push_str(&format!("{};Cliente {i}\r\n", phone(1000 + i)));
    }
    let started = s
        .client
        .post(format!("{}/v1/sequences/{imported}/imports", s.base))
        .bearer_auth(&s.token)
        .header("content-type", "text/csv")
        .body(file)
        .send()
        .await
        .unwrap();
    let started = ritmo_e2e::Reply {
        status: started.status(),
        headers: started.headers().clone(),
        body: started.json().await.unwrap_or(Value::Null),
    };
    rows.push(Row::new(
        "import, per row",
        ROWS,
        measured_job(&s, &proxy, started).await,
    ));
    assert_eq!(
        s.outbox().await.len(),
        CONTACTS,
        "no imported step sent yet"
    );

    // Sequential links: a plain rotator for people and bots, a sticky one for returns.
    for (slug, n) in [("ana", 1), ("bia", 2), ("cai", 3)] {
        let body =
            json!({"slug": slug, "type": "whatsapp", "phone": format!("+55119876543{n:02}")});
        assert_eq!(s.post("/v1/links", body).await.status, StatusCode::CREATED);
    }
    let members = json!([{"link": "ana"}, {"link": "bia"}, {"link": "cai"}]);
    for (slug, sticky) in [("loja", false), ("fila", true)] {
        let body = json!({"slug": slug, "type": "rotator", "members": members, "sticky": sticky});
        assert_eq!(s.post("/v1/links", body).await.status, StatusCode::CREATED);
    }
    let first = visit(&s, "/fila", BROWSER, None).await;
    let cookie = first.headers()["set-cookie"].to_str().unwrap().to_string();
    let cookie = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("ritmo_sticky=")
        .to_string();
    measured(&proxy).await;
    for _ in 0..CLICKS {
        assert_eq!(visit(&s, "/loja", BROWSER, None).await.status(), 302);
    }
    rows.push(Row::new(
        "human click on a sequential link",
        CLICKS,
        measured(&proxy).await,
    ));
    for _ in 0..CLICKS {
        let again = visit(&s, "/fila", BROWSER, Some(&cookie)).await;
        assert_eq!(again.status(), 302);
        assert!(again.headers().get("set-cookie").is_none(), "kept member");
    }
    rows.push(Row::new(
        "returning sticky visitor",
        CLICKS,
        measured(&proxy).await,
    ));
    for _ in 0..CLICKS {
        assert_eq!(visit(&s, "/loja", BOT, None).await.status(), 200);
    }
    rows.push(Row::new("bot click", CLICKS, measured(&proxy).await));
    for _ in 0..CLICKS {
        assert_eq!(visit(&s, "/nao-existe", BROWSER, None).await.status(), 404);
    }
    rows.push(Row::new("unknown slug", CLICKS, measured(&proxy).await));

    // Archive: a sequence of RUNS active runs, each waiting on its first step a day away.
    let archived = s
        .post("/v1/sequences", json!({"name": "Arquivo"}))
        .await
        .ok();
    let archived = archived["id"].as_str().unwrap().to_string();
    s.post(
        &format!("/v1/sequences/{archived}/steps"),
        json!({"channel_id": channel, "action": {"type": "template", "name": "followup", "language": "pt_BR"},
               "delay": {"amount": 1, "unit": "days"}}),
    )
    .await
    .ok();
    s.post(&format!("/v1/sequences/{archived}/activate"), json!({}))
        .await
        .ok();
    let phones: Vec<String> = (0..RUNS).map(|i| phone(5000 + i)).collect();
    for chunk in phones.chunks(100) {
        enroll(&s, &archived, chunk.iter().cloned()).await;
    }
    measured(&proxy).await;
    let started = s.delete(&format!("/v1/sequences/{archived}")).await;
    rows.push(Row::new(
        "archive a sequence, per run",
        RUNS,
        measured_job(&s, &proxy, started).await,
    ));

    let table = capacity::table(&rows);
    println!("capacity: DynamoDB cost per unit of each operation (on-demand request units)\n");
    println!("{table}");
    let report = capacity::json(&rows);
    let target = concat!(env!("CARGO_MANIFEST_DIR"), "/../target");
    std::fs::create_dir_all(target).expect("target/");
    std::fs::write(
        format!("{target}/capacity.json"),
        serde_json::to_string_pretty(&report).unwrap(),
    )
    .expect("the report");
    println!("written to target/capacity.json");
    for row in &rows {
        println!(
            "{}: {}",
            row.operation,
            row.usage
                .by_operation
                .iter()
                .map(|(op, n)| {
                    let units = row
                        .usage
                        .units_by_operation
                        .get(op)
                        .cloned()
                        .unwrap_or_default();
                    format!("{op} {n} ({} WRU, {} RRU)", units.wru, units.rru)
                })
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    let breaches = budgets.breaches(&rows);
    assert!(
        breaches.is_empty(),
        "over infra/capacity-budgets.json:\n{}",
        breaches.join("\n")
    );
}
